/*
 * tsmesh's one native piece: the original destination of a connection that iptables REDIRECTed
 * to the sidecar (getsockopt SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST), which Node has no API for,
 * and IP_TRANSPARENT for TPROXY listeners. Written against node_api.h only (N-API is ABI-stable),
 * so one build serves every Node version >= 18 and Bun's N-API.
 *
 *   originalDst(fd) -> { ip: string, port: number }   (throws Error with .code = errno name)
 *   setTransparent(fd, family) -> undefined            (IP_TRANSPARENT / IPV6_TRANSPARENT = 1)
 */
#include <errno.h>
#include <string.h>
#include <stdio.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/netfilter_ipv4.h>
#include <node_api.h>

/* From <linux/netfilter_ipv6/ip6_tables.h>, which needs more kernel headers than a libc ships. */
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif
#ifndef IP_TRANSPARENT
#define IP_TRANSPARENT 19
#endif
#ifndef IPV6_TRANSPARENT
#define IPV6_TRANSPARENT 75
#endif

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, message, error;
  const char *name = err == ENOENT ? "ENOENT" : err == EBADF ? "EBADF" : err == ENOPROTOOPT ? "ENOPROTOOPT" : err == ENOTSOCK ? "ENOTSOCK" : err == EPERM ? "EPERM" : err == EINVAL ? "EINVAL" : "EIO";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &message);
  napi_create_error(env, code, message, &error);
  napi_value errnoValue;
  napi_create_int32(env, err, &errnoValue);
  napi_set_named_property(env, error, "errno", errnoValue);
  napi_throw(env, error);
  return NULL;
}

static int fd_arg(napi_env env, napi_callback_info info, int32_t *fd, int32_t *second) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], fd) != napi_ok || *fd < 0) {
    napi_throw_type_error(env, NULL, "expected a file descriptor (a non-negative integer)");
    return 0;
  }
  if (second) {
    *second = 4;
    if (argc >= 2) napi_get_value_int32(env, argv[1], second);
  }
  return 1;
}

static napi_value original_dst(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fd_arg(env, info, &fd, NULL)) return NULL;
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  /* The family of the accepted socket says which table (iptables or ip6tables) redirected it. */
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return throw_errno(env, "getsockname", errno);
  struct sockaddr_storage dst;
  memset(&dst, 0, sizeof dst);
  len = sizeof dst;
  char ip[INET6_ADDRSTRLEN];
  int port;
  int v4mapped = local.ss_family == AF_INET6 && IN6_IS_ADDR_V4MAPPED(&((struct sockaddr_in6 *)&local)->sin6_addr);
  if (local.ss_family == AF_INET || v4mapped) {
    if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) return throw_errno(env, "getsockopt(SO_ORIGINAL_DST)", errno);
    struct sockaddr_in *a = (struct sockaddr_in *)&dst;
    inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
    port = ntohs(a->sin_port);
  } else if (local.ss_family == AF_INET6) {
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len) != 0) return throw_errno(env, "getsockopt(IP6T_SO_ORIGINAL_DST)", errno);
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&dst;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
    port = ntohs(a->sin6_port);
  } else {
    return throw_errno(env, "originalDst: not an IP socket", EINVAL);
  }
  napi_value out, ipValue, portValue;
  napi_create_object(env, &out);
  napi_create_string_utf8(env, ip, NAPI_AUTO_LENGTH, &ipValue);
  napi_create_int32(env, port, &portValue);
  napi_set_named_property(env, out, "ip", ipValue);
  napi_set_named_property(env, out, "port", portValue);
  return out;
}

static napi_value set_transparent(napi_env env, napi_callback_info info) {
  int32_t fd, family;
  if (!fd_arg(env, info, &fd, &family)) return NULL;
  int one = 1;
  int rc = family == 6 ? setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one, sizeof one) : setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof one);
  if (rc != 0) return throw_errno(env, family == 6 ? "setsockopt(IPV6_TRANSPARENT)" : "setsockopt(IP_TRANSPARENT)", errno);
  return NULL;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "originalDst", NAPI_AUTO_LENGTH, original_dst, NULL, &fn);
  napi_set_named_property(env, exports, "originalDst", fn);
  napi_create_function(env, "setTransparent", NAPI_AUTO_LENGTH, set_transparent, NULL, &fn);
  napi_set_named_property(env, exports, "setTransparent", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
