// SO_ORIGINAL_DST for Node: the destination a connection had before iptables
// REDIRECTed it to the proxy (netns mode). Node has no API for this socket option,
// so this tiny Node-API addon reads it from the socket's file descriptor.
//
// originalDst(fd) -> { address: string, port: number, family: 4 | 6 } | null
//   null: the socket was not redirected (the kernel has no conntrack entry: ENOENT),
//   or the option is unavailable for its family. Other failures throw with errno text.
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IP6T_SO_ORIGINAL_DST
// From linux/netfilter_ipv6/ip6_tables.h; defined here because that header drags in
// kernel-only types on some distributions.
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value make_result(napi_env env, const char *address, int port, int family) {
  napi_value obj, v;
  napi_create_object(env, &obj);
  napi_create_string_utf8(env, address, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, obj, "address", v);
  napi_create_int32(env, port, &v);
  napi_set_named_property(env, obj, "port", v);
  napi_create_int32(env, family, &v);
  napi_set_named_property(env, obj, "family", v);
  return obj;
}

static napi_value null_value(napi_env env) {
  napi_value v;
  napi_get_null(env, &v);
  return v;
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1) {
    napi_throw_type_error(env, NULL, "originalDst(fd): a file descriptor is required");
    return NULL;
  }
  int32_t fd;
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "originalDst(fd): fd must be a non-negative integer");
    return NULL;
  }

  // The socket's own family decides which option to ask for: an IPv4 connection
  // accepted on a dual-stack listener is AF_INET6 with a v4-mapped address, and
  // iptables (not ip6tables) redirected it, so SOL_IP works on it too.
  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) {
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }

  char text[INET6_ADDRSTRLEN];
  struct sockaddr_in v4;
  socklen_t v4_len = sizeof v4;
  memset(&v4, 0, sizeof v4);
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &v4, &v4_len) == 0) {
    inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
    return make_result(env, text, ntohs(v4.sin_port), 4);
  }
  int v4_errno = errno;

  if (local.ss_family == AF_INET6) {
    struct sockaddr_in6 v6;
    socklen_t v6_len = sizeof v6;
    memset(&v6, 0, sizeof v6);
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &v6, &v6_len) == 0) {
      inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
      return make_result(env, text, ntohs(v6.sin6_port), 6);
    }
    if (errno == ENOENT || errno == ENOPROTOOPT) return null_value(env);
    napi_throw_error(env, NULL, strerror(errno));
    return NULL;
  }
  // ENOENT: no conntrack entry (not redirected); ENOPROTOOPT: no netfilter for it.
  if (v4_errno == ENOENT || v4_errno == ENOPROTOOPT) return null_value(env);
  napi_throw_error(env, NULL, strerror(v4_errno));
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
