// Draws the frontend's two images without any image library or network: a PNG logo
// and a favicon.ico (an ICO container holding a PNG, which every current browser
// reads). The output is committed; run this only to change the pictures:
//   node --import tsx samples/sentiment/sa-frontend/make-images.ts
import { writeFileSync } from "node:fs";
import { deflateSync } from "node:zlib";

type Rgba = [number, number, number, number];

/** A smiling face, drawn per pixel with 4×4 supersampling for smooth edges. */
function drawFace(size: number): Buffer {
  const pixels = Buffer.alloc(size * size * 4);
  const samples = 4;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const acc = [0, 0, 0, 0];
      for (let sy = 0; sy < samples; sy++) {
        for (let sx = 0; sx < samples; sx++) {
          // Coordinates in [-1, 1], y downwards.
          const u = ((x + (sx + 0.5) / samples) / size) * 2 - 1;
          const v = ((y + (sy + 0.5) / samples) / size) * 2 - 1;
          const [r, g, b, a] = faceColour(u, v);
          acc[0] += r * a;
          acc[1] += g * a;
          acc[2] += b * a;
          acc[3] += a;
        }
      }
      const n = samples * samples;
      const alpha = acc[3] / n;
      const i = (y * size + x) * 4;
      // Store straight (not premultiplied) colour, as PNG expects.
      pixels[i] = alpha > 0 ? Math.round(acc[0] / acc[3]) : 0;
      pixels[i + 1] = alpha > 0 ? Math.round(acc[1] / acc[3]) : 0;
      pixels[i + 2] = alpha > 0 ? Math.round(acc[2] / acc[3]) : 0;
      pixels[i + 3] = Math.round(alpha * 255);
    }
  }
  return pixels;
}

function faceColour(u: number, v: number): Rgba {
  const transparent: Rgba = [0, 0, 0, 0];
  const ink: Rgba = [60, 40, 20, 1];
  const r = Math.hypot(u, v);
  if (r > 0.96) return transparent;
  if (r > 0.88) return ink; // outline
  const eye = (cx: number) => Math.hypot((u - cx) / 0.1, (v + 0.28) / 0.16) <= 1;
  if (eye(-0.32) || eye(0.32)) return ink;
  // Smile: a ring segment below the centre.
  const smileR = Math.hypot(u, v + 0.05);
  if (v > 0.12 && smileR > 0.5 && smileR < 0.62) return ink;
  return [255, 204, 51, 1];
}

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(data: Buffer): number {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

export function encodePng(size: number, rgba: Buffer): Buffer {
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // colour type RGBA
  // compression, filter method, interlace: all 0
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    rows.push(Buffer.from([0]), rgba.subarray(y * size * 4, (y + 1) * size * 4)); // filter type None
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

/** An ICO file with one PNG-compressed image. */
export function encodeIco(size: number, png: Buffer): Buffer {
  const dir = Buffer.alloc(6);
  dir.writeUInt16LE(0, 0); // reserved
  dir.writeUInt16LE(1, 2); // type: icon
  dir.writeUInt16LE(1, 4); // one image
  const entry = Buffer.alloc(16);
  entry[0] = size >= 256 ? 0 : size; // width (0 means 256)
  entry[1] = size >= 256 ? 0 : size; // height
  entry[2] = 0; // no palette
  entry[3] = 0; // reserved
  entry.writeUInt16LE(1, 4); // colour planes
  entry.writeUInt16LE(32, 6); // bits per pixel
  entry.writeUInt32LE(png.length, 8);
  entry.writeUInt32LE(dir.length + entry.length, 12); // offset of the image data
  return Buffer.concat([dir, entry, png]);
}

const here = new URL("./static/", import.meta.url);
writeFileSync(new URL("logo.png", here), encodePng(128, drawFace(128)));
writeFileSync(new URL("favicon.ico", here), encodeIco(32, encodePng(32, drawFace(32))));
console.log(`wrote ${new URL("logo.png", here).pathname} and favicon.ico`);
