{
  "targets": [
    {
      "target_name": "skiff_original_dst",
      "sources": ["src/original_dst.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
