/* srv.h: what the server's files share: the server record, the HTTP reply helpers
 * (http.c), the routes (routes.c, complete.c), the OpenAI mapping (oai_parse.c,
 * oai_reply.c), metrics and the web page. Only server.c starts and stops things. */
#ifndef LATTE_SERVER_SRV_H
#define LATTE_SERVER_SRV_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>

#include "sched.h"
#include "server.h"

/* How the model family writes tool calls (chosen from what its template writes). */
typedef enum { TOOL_FMT_HERMES, TOOL_FMT_LLAMA3, TOOL_FMT_DEEPSEEK } tool_fmt;

typedef struct srv {
    server_params p;
    latte_model *m;
    latte_ctx *c;
    sched *sch;
    char model_id[256];
    atomic_ulong next_id;
    time_t started;
    tool_fmt tool_fmt;
    bool tool_role;         /* the template takes "tool" messages itself */
} srv;

/* A request's first error: perr fills msg and returns 400. */
typedef struct perr_t {
    char *msg;
    size_t cap;
} perr_t;
int perr(perr_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- http.c: replies (each returns MHD's result of queueing it) ---- */
enum MHD_Result http_reply(struct MHD_Connection *conn, int status, const char *ctype, const char *body, size_t len);
/* Sends j (and frees it). */
enum MHD_Result http_reply_json(struct MHD_Connection *conn, int status, json_t *j);
/* {"error":{"message","type","code"}} with the OpenAI type for the status. */
enum MHD_Result http_reply_error(struct MHD_Connection *conn, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* True when the client has closed its side (its request is then cancelled). */
bool http_client_gone(struct MHD_Connection *conn);
/* Starts the daemon; fills *port_out with the port bound. NULL on failure (err filled). */
struct MHD_Daemon *http_start(srv *sv, int *port_out, latte_err *err);

/* ---- routes.c ---- */
enum MHD_Result routes_dispatch(srv *sv, struct MHD_Connection *conn, const char *method, const char *url,
                                const char *body, size_t len);

/* ---- complete.c: the three completion endpoints ---- */
typedef enum { API_CHAT, API_COMPLETIONS, API_NATIVE } api_kind;
enum MHD_Result complete_handle(srv *sv, struct MHD_Connection *conn, api_kind kind, json_t *body);

/* ---- oai_parse.c: a request body into a task ---- */
typedef struct req_opts {
    api_kind kind;
    bool stream, include_usage;
    bool think_open;       /* chat: the prompt opened <think> (R1 templates) */
    bool split_reasoning;  /* chat: <think> text goes to reasoning_content */
    bool logprobs;
    int top_logprobs;
    bool tools, tools_forced; /* chat: tools were offered / a call was forced (tool_choice) */
    char id[64];
    long long created;
} req_opts;
/* Fills t->p and o from body. Returns 0, or an HTTP status (400) with msg filled. */
int oai_parse(const srv *sv, json_t *body, api_kind kind, task *t, req_opts *o, char *msg, size_t cap);

/* ---- chat_msgs.c: OpenAI messages (tools, tool_calls, tool results) to template messages ---- */
tool_fmt chat_tool_fmt(const latte_model *m, const char *tmpl);
bool chat_takes_tool_role(const latte_model *m, const char *tmpl);
/* tools: the offered tools (NULL: none). *out holds malloc'ed contents (chat_msgs_free). */
int chat_msgs_build(const srv *sv, json_t *msgs, json_t *tools, latte_chat_msg **out, size_t *n, perr_t *e);
void chat_msgs_free(latte_chat_msg *cm, size_t n);

/* ---- tool_calls.c: tool calls out of the model's text ---- */
typedef struct tool_call {
    char *name, *args; /* args: JSON text */
} tool_call;
/* The calls in text[0..len) (*calls malloc'ed; free with tool_calls_free); *content_len: the
 * text before the first call. Returns how many. */
int tool_calls_parse(const char *text, size_t len, bool forced, tool_call **calls, size_t *content_len);
/* While streaming: how much of text[0..len) is surely content (not a call, nor the start of one). */
size_t tool_calls_content_limit(const char *text, size_t len, bool forced, tool_fmt fmt);
void tool_calls_free(tool_call *calls, int n);

/* ---- oai_reply.c: a task's output as JSON ---- */
/* The whole response of a finished task (lock held or task finished). */
json_t *oai_final(const srv *sv, const task *t, const req_opts *o);
/* Where a stream stands in the task's output. */
typedef struct stream_pos {
    size_t sent;            /* text bytes sent */
    size_t r_sent, c_sent;  /* reasoning / content ends sent (chat with reasoning split) */
    int toks_sent;          /* tokens whose log-probs were sent */
    bool role_sent;
} stream_pos;
/* Appends the SSE events for what t gained since sp (and the closing ones once t finished)
 * to *buf (malloc'ed, grown). Lock held. Returns -1 on out of memory. */
int oai_stream_events(const srv *sv, const task *t, const req_opts *o, stream_pos *sp, char **buf, size_t *len,
                      size_t *cap);
/* Text as a JSON string; bytes that are not UTF-8 become U+FFFD. */
json_t *json_text(const char *s, size_t n);
/* Appends one SSE event `data: DATA` to *buf. */
int sse_append(char **buf, size_t *len, size_t *cap, const char *data);

/* ---- slots.c: POST /slots/{id}?action=save|restore|erase ---- */
enum MHD_Result slots_action(srv *sv, struct MHD_Connection *conn, const char *idtext, json_t *body);

/* ---- metrics.c ---- */
char *metrics_text(srv *sv);

/* ---- web.c ---- */
extern const char WEB_PAGE[];

#endif
