/* http.c: the libmicrohttpd glue. A thread per connection reads the body (at most
 * max_body bytes, else 413), checks the API key (every route but /health and the page),
 * then hands method, path and body to routes_dispatch. Replies carry CORS headers so a web
 * page on another origin can call the API. Nothing here touches the engine. */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "srv.h"

typedef struct http_req {
    char *body;
    size_t len, cap;
    bool too_big;
} http_req;

enum MHD_Result http_reply(struct MHD_Connection *conn, int status, const char *ctype, const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Content-Type", ctype);
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    enum MHD_Result rc = MHD_queue_response(conn, (unsigned)status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result http_reply_json(struct MHD_Connection *conn, int status, json_t *j) {
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    if (!s) return http_reply(conn, 500, "application/json",
                              "{\"error\":{\"message\":\"out of memory\",\"type\":\"server_error\",\"code\":500}}", 73);
    enum MHD_Result rc = http_reply(conn, status, "application/json; charset=utf-8", s, strlen(s));
    free(s);
    return rc;
}

static const char *error_type(int status) {
    switch (status) {
    case 401: return "authentication_error";
    case 404: return "not_found_error";
    case 501: return "not_supported_error";
    case 503: return "unavailable_error";
    default: return status < 500 ? "invalid_request_error" : "server_error";
    }
}

enum MHD_Result http_reply_error(struct MHD_Connection *conn, int status, const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    json_t *j = json_pack("{s:{s:s,s:s,s:i}}", "error", "message", msg, "type", error_type(status), "code", status);
    return http_reply_json(conn, status, j);
}

bool http_client_gone(struct MHD_Connection *conn) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    struct pollfd pf = {.fd = ci->connect_fd, .events = POLLRDHUP};
    return poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL));
}

static bool authorized(const srv *sv, struct MHD_Connection *conn, const char *url) {
    if (!sv->p.api_key || !strcmp(url, "/health") || !strcmp(url, "/") || !strcmp(url, "/index.html")) return true;
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    if (h && !strncmp(h, "Bearer ", 7) && !strcmp(h + 7, sv->p.api_key)) return true;
    h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Api-Key");
    return h && !strcmp(h, sv->p.api_key);
}

static enum MHD_Result preflight(struct MHD_Connection *conn) {
    struct MHD_Response *r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, "Access-Control-Allow-Origin", "*");
    MHD_add_response_header(r, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    MHD_add_response_header(r, "Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key");
    enum MHD_Result rc = MHD_queue_response(conn, 204, r);
    MHD_destroy_response(r);
    return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **state) {
    srv *sv = cls;
    http_req *rq = *state;
    if (!rq) { /* the first call: headers only */
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        *state = rq;
        if (!strcmp(method, "OPTIONS")) return preflight(conn);
        if (!authorized(sv, conn, url)) return http_reply_error(conn, 401, "invalid or missing API key");
        const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
        if (cl && strtoull(cl, NULL, 10) > sv->p.max_body)
            return http_reply_error(conn, 413, "the request body is %s bytes; the limit is %zu", cl, sv->p.max_body);
        return MHD_YES;
    }
    if (*upload_size) { /* a piece of the body */
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_big || rq->len + n > sv->p.max_body) {
            rq->too_big = true;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t nc = rq->cap ? rq->cap : 4096;
            while (nc < rq->len + n + 1) nc *= 2;
            char *nb = realloc(rq->body, nc);
            if (!nb) return MHD_NO;
            rq->body = nb, rq->cap = nc;
        }
        memcpy(rq->body + rq->len, upload, n);
        rq->len += n;
        rq->body[rq->len] = 0;
        return MHD_YES;
    }
    if (rq->too_big) return http_reply_error(conn, 413, "the request body is over the limit of %zu bytes", sv->p.max_body);
    return routes_dispatch(sv, conn, method, url, rq->body ? rq->body : "", rq->len);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode why) {
    http_req *rq = *state;
    if (!rq) return;
    free(rq->body);
    free(rq);
    *state = NULL;
}

/* Parses host and port into a socket address; false when the host is no IP literal. */
static bool make_addr(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (!strcmp(host, "localhost")) host = "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return true;
    }
    return false;
}

struct MHD_Daemon *http_start(srv *sv, int *port_out, latte_err *err) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (!make_addr(sv->p.host, sv->p.port, &ss, &sl)) {
        err->code = LATTE_E_ARG;
        snprintf(err->msg, sizeof err->msg, "--host '%s' is not an IPv4 or IPv6 address", sv->p.host);
        return NULL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD;
    if (ss.ss_family == AF_INET6) flags |= MHD_USE_IPv6;
    errno = 0;
    struct MHD_Daemon *d = MHD_start_daemon(
        flags, (uint16_t)sv->p.port, NULL, NULL, on_request, sv, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, sv, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)sv->p.timeout_s,
        MHD_OPTION_CONNECTION_LIMIT, 512u, MHD_OPTION_END);
    if (!d) {
        err->code = LATTE_E_IO;
        snprintf(err->msg, sizeof err->msg, "cannot listen on %s:%d: %s", sv->p.host, sv->p.port,
                 errno ? strerror(errno) : "the address is taken or not here");
        return NULL;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = di ? di->port : sv->p.port;
    return d;
}
