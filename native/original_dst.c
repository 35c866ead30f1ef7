/*
 * lanemesh's only native code: reads a TCP socket's destination before iptables REDIRECT
 * (getsockopt SO_ORIGINAL_DST, as Envoy and Linkerd do); it never reads, writes or closes the
 * socket. Linux only. Exported: originalDestination(fd) -> { address, port, family } | null
 * (null: the connection was not redirected, ENOENT / ENOTCONN); throws on any other error.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/netfilter_ipv4.h>
#include <netinet/in.h>
#include <stdio.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>

#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80 /* linux/netfilter_ipv6/ip6_tables.h */
#endif

static napi_value result(napi_env env, const char *address, int port, int family) {
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

static napi_value fail(napi_env env, const char *what, int err) {
  char message[160];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_throw_error(env, "LANEMESH_ORIGINAL_DST", message);
  return NULL;
}

static napi_value original_destination(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], null_value;
  int32_t fd;
  napi_get_null(env, &null_value);
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 ||
      napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, NULL, "originalDestination(fd): fd must be a file descriptor");
    return NULL;
  }
  struct sockaddr_storage local;
  socklen_t len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &len) != 0) return fail(env, "getsockname", errno);
  char text[INET6_ADDRSTRLEN];
  if (local.ss_family == AF_INET6) {
    struct sockaddr_in6 dst6;
    len = sizeof dst6;
    if (getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst6, &len) == 0) {
      inet_ntop(AF_INET6, &dst6.sin6_addr, text, sizeof text);
      return result(env, text, ntohs(dst6.sin6_port), 6);
    }
    /* An IPv4 client on a dual-stack socket: conntrack holds an IPv4 tuple. */
    if (errno != ENOENT && errno != ENOPROTOOPT && errno != EOPNOTSUPP)
      return fail(env, "getsockopt(IP6T_SO_ORIGINAL_DST)", errno);
  }
  struct sockaddr_in dst;
  len = sizeof dst;
  if (getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len) != 0) {
    if (errno == ENOENT || errno == ENOTCONN || errno == ENOPROTOOPT) return null_value;
    return fail(env, "getsockopt(SO_ORIGINAL_DST)", errno);
  }
  inet_ntop(AF_INET, &dst.sin_addr, text, sizeof text);
  return result(env, text, ntohs(dst.sin_port), 4);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "originalDestination", NAPI_AUTO_LENGTH, original_destination, NULL,
                       &fn);
  napi_set_named_property(env, exports, "originalDestination", fn);
  return exports;
}
