/* flags.c: the flag tables and the command registry: which command takes which flags, in
 * llama.cpp's spellings and meanings (llama-cli for run/chat, llama-bench for bench). A flag
 * group is shared by the commands that list it; a command's own meaning of a spelling (bench's
 * -p is a list of prompt sizes) is its own group. Adding a command is one group and one row;
 * adding a flag is one line (and a field in cli_opts). Defaults are strings parsed like the
 * user's values, so --help shows exactly what is used. */
#include <stddef.h>

#include "cli.h"

/* rows leave out the trailing fields that are zero for most flags (lo_open) */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define O(f) offsetof(cli_opts, f)
#define N(a) (sizeof a / sizeof a[0])
#define BIG (1 << 30)

static const cli_choice FA[] = {{"on", 1}, {"off", 0}, {"auto", -1}, {"1", 1}, {"0", 0}, {"true", 1}, {"false", 0},
                                {NULL, 0}};
static const cli_choice CACHE[] = {{"f16", 1}, {"f32", 0}, {"bf16", 30}, {"q8_0", 8}, {"q6_0", 133}, {"q4_0", 2}, {NULL, 0}};
/* weight types the tools write (ggml ids) */
static const cli_choice WTYPE[] = {{"q8_0", 8}, {"q4_0", 2}, {"q4_1", 3}, {"q5_0", 6}, {"q5_1", 7}, {"q4_K", 12},
                                   {"q5_K", 13}, {"q6_K", 14}, {"f16", 1}, {"bf16", 30}, {"f32", 0}, {"q4_k", 12},
                                   {"q5_k", 13}, {"q6_k", 14}, {NULL, 0}};
static const cli_choice BENCH_OUT[] = {{"md", 0}, {"json", 1}, {"csv", 2}, {"jsonl", 3}, {NULL, 0}};

static const cli_flag MODEL[] = {
    {"-m", "--model", CLI_STR, O(model), 0, 0, NULL, "FILE", NULL,
     "model file (GGUF); default: the built-in SmolLM2-135M-Instruct in ~/.cache/latte"},
};

static const cli_flag ENGINE[] = {
    {"-c", "--ctx-size", CLI_INT, O(n_ctx), 0, BIG, NULL, "N", "0", "context size in tokens (0: min(training, 4096))"},
    {"-b", "--batch-size", CLI_INT, O(n_batch), 1, BIG, NULL, "N", "2048", "logical batch: tokens per decode call"},
};

/* the engine flags after the context size (perplexity has its own -c and -b) */
static const cli_flag ENGINE_RUN[] = {
    {"-ub", "--ubatch-size", CLI_INT, O(n_ubatch), 1, BIG, NULL, "N", "512", "micro-batch: tokens per forward pass"},
    {"-t", "--threads", CLI_INT, O(n_threads), 0, 1024, NULL, "N", "0", "threads (0: all cores)"},
    {"-mla", "--mla-use", CLI_INT, O(mla), -1, 3, NULL, "0..3", "-1",
     "MLA mode: 0 per-head K/V, 1 latent + transposed copy, 2 latent rows, 3 fused (-1: 3 on MLA models)"},
    {"-fa", "--flash-attn", CLI_OPT_CHOICE, O(fa), 0, 0, FA, "[on|off|auto]", "off",
     "flash attention (online softmax); a bare -fa means on; auto: off"},
    {"-ctk", "--cache-type-k", CLI_CHOICE, O(type_k), 0, 0, CACHE, "TYPE", "f16", "K (or latent) cache type"},
    {"-ctv", "--cache-type-v", CLI_CHOICE, O(type_v), 0, 0, CACHE, "TYPE", "f16",
     "V cache type (MLA modes 2 and 3 keep no V cache)"},
    {"-khad", "--k-cache-hadamard", CLI_BOOL, O(k_hadamard), 0, 0, NULL, NULL, NULL,
     "rotate keys (and queries) by a Hadamard transform before caching: less quantization error"},
    {"-ser", "--smart-expert-reduction", CLI_STR, O(ser), 0, 0, NULL, "KMIN,T", NULL,
     "MoE: use fewer experts where the router is sure (Kmin >= 0, T in [0, 1])"},
};

/* where the weights go (decided at load; a build or host without a GPU says so) */
static const cli_flag PLACE[] = {
    {"-ngl", "--n-gpu-layers", CLI_INT, O(n_gpu_layers), -1, BIG, NULL, "N", "-1",
     "layers on the GPUs: the last N (above the layer count the output too; -1: automatic fit)"},
    {"-ot", "--override-tensor", CLI_STRS, O(overrides), 0, 0, NULL, "REGEX=DEV", NULL,
     "tensors whose name matches go to DEV (CPU, CUDA0, ...; repeatable, first match wins)"},
    {NULL, "--n-cpu-moe", CLI_INT, O(n_cpu_moe), 0, BIG, NULL, "N", "0", "routed experts of the first N layers stay on the CPU"},
    {"-mg", "--main-gpu", CLI_INT, O(main_gpu), 0, 1024, NULL, "N", "0", "the GPU that holds what is not split"},
};

/* info --plan: the placement for a context of this size, mode and cache type */
static const cli_flag PLAN[] = {
    {NULL, "--plan", CLI_BOOL, O(plan), 0, 0, NULL, NULL, NULL, "print where each weight would live instead"},
    {NULL, "--fake-device", CLI_STRS, O(fake_devices), 0, 0, NULL, "NAME:BYTES", NULL,
     "plan also for a device of that memory (e.g. CUDA0:24G; repeatable)"},
    {"-c", "--ctx-size", CLI_INT, O(n_ctx), 0, BIG, NULL, "N", "0", "context the KV cache is sized for (0: 4096)"},
    {"-mla", "--mla-use", CLI_INT, O(mla), -1, 3, NULL, "0..3", "-1", "MLA mode the KV cache is sized for"},
    {"-ctk", "--cache-type-k", CLI_CHOICE, O(type_k), 0, 0, CACHE, "TYPE", "f16", "K (or latent) cache type"},
    {"-ctv", "--cache-type-v", CLI_CHOICE, O(type_v), 0, 0, CACHE, "TYPE", "f16", "V cache type"},
};

/* ik_llama.cpp flags whose work latte does anyway or never needs: accepted, with one line */
static const cli_flag IK_NOOP[] = {
    {"-fmoe", "--fused-moe", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL, "the MoE experts always run fused here"},
    {"-rtr", "--run-time-repack", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL,
     "the kernels read the file's layout directly; there is nothing to repack"},
    {"-amb", "--attention-max-batch", CLI_NOTE_VALUE, 0, 0, 0, NULL, "N", NULL,
     "attention scratch is sized once per micro-batch (-ub); there is no separate bound"},
    {NULL, "--no-mmap", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL, "the model is always mapped and read in once at load"},
    {NULL, "--mlock", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL, "the load touches every page; nothing is locked"},
    {"-tb", "--threads-batch", CLI_NOTE_VALUE, 0, 0, 0, NULL, "N", NULL, "-t serves prompt and generation alike"},
};

static const cli_flag NO_WARMUP[] = {
    {NULL, "--no-warmup", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL,
     "there is no warm-up decode: the load reads every page of the weights instead"},
};

static const cli_flag PROMPT[] = {
    {"-p", "--prompt", CLI_STR, O(prompt), 0, 0, NULL, "TEXT", NULL, "the prompt"},
    {"-f", "--file", CLI_STR, O(file), 0, 0, NULL, "FILE", NULL, "read the prompt from FILE (- : stdin)"},
    {"-e", "--escape", CLI_BOOL, O(escape), 0, 0, NULL, NULL, NULL,
     "turn \\n \\r \\t \\' \\\" \\\\ in -p into the characters (the default)"},
    {NULL, "--no-escape", CLI_BOOL, O(no_escape), 0, 0, NULL, NULL, NULL, "take -p literally"},
    {NULL, "--no-bos", CLI_BOOL, O(no_bos), 0, 0, NULL, NULL, NULL, "do not add BOS even when the vocabulary asks"},
    {NULL, "--no-parse-special", CLI_BOOL, O(no_special), 0, 0, NULL, NULL, NULL,
     "treat control-token text (<|im_start|>) as plain text"},
};

static const cli_flag GENERATE[] = {
    {"-n", "--n-predict", CLI_INT, O(n_predict), -1, BIG, NULL, "N", "-1", "tokens to generate (-1: until end of text)"},
    {NULL, "--stop", CLI_STRS, O(stops), 0, 0, NULL, "TEXT", NULL, "stop before TEXT (repeatable; not printed)"},
    {"-r", "--reverse-prompt", CLI_STRS, O(stops), 0, 0, NULL, "TEXT", NULL, "the same as --stop (repeatable)"},
};

static const cli_flag TEMPLATE[] = {
    {"-sys", "--system-prompt", CLI_STR, O(system), 0, 0, NULL, "TEXT", NULL, "system message (with --chat or -cnv)"},
    {NULL, "--chat-template", CLI_STR, O(chat_template), 0, 0, NULL, "NAME", NULL,
     "chat template: chatml, deepseek3, deepseek2, llama3, ... (default: the model's)"},
    {NULL, "--jinja", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL,
     "the model's template is always read from the file and recognised by its content"},
};

static const cli_flag RUN_MODE[] = {
    {NULL, "--chat", CLI_BOOL, O(chat), 0, 0, NULL, NULL, NULL, "wrap the prompt as one user message in the template"},
    {"-cnv", "--conversation", CLI_BOOL, O(cnv), 0, 0, NULL, NULL, NULL,
     "the chat console instead (as `latte chat`; -p is the first message)"},
    {"-no-cnv", "--no-conversation", CLI_BOOL, O(no_cnv), 0, 0, NULL, NULL, NULL, "plain completion (the default)"},
    {NULL, "--color", CLI_BOOL, O(color), 0, 0, NULL, NULL, NULL,
     "with -cnv: answers in color on a terminal (run prints only the continuation)"},
};

static const cli_flag CHAT[] = {
    {"-p", "--prompt", CLI_STR, O(prompt), 0, 0, NULL, "TEXT", NULL, "the first user message"},
    {NULL, "--color", CLI_BOOL, O(color), 0, 0, NULL, NULL, NULL, "answers in color on a terminal"},
    {NULL, "--show-speed", CLI_BOOL, O(show_speed), 0, 0, NULL, NULL, NULL,
     "tokens/s after each answer (/speed toggles)"},
    {"-cnv", "--conversation", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL, "chat is always a conversation"},
};

static const cli_flag SAMPLING[] = {
    {"-s", "--seed", CLI_SEED, O(seed), -1, 0, NULL, "N", "-1", "random seed (-1: a random one, printed)"},
    {NULL, "--temp", CLI_FLOAT, O(temp), 0, 100, NULL, "T", "0.8", "temperature (0: greedy)"},
    {NULL, "--top-k", CLI_INT, O(top_k), 0, BIG, NULL, "N", "40", "top-k (0: off)"},
    {NULL, "--top-p", CLI_FLOAT, O(top_p), 0, 1, NULL, "P", "0.95", "top-p (1: off)"},
    {NULL, "--min-p", CLI_FLOAT, O(min_p), 0, 1, NULL, "P", "0.05", "min-p (0: off)"},
    {NULL, "--repeat-penalty", CLI_FLOAT, O(repeat_penalty), 0, 100, NULL, "X", "1.0", "repetition penalty (1: off)",
     true},
    {NULL, "--repeat-last-n", CLI_INT, O(repeat_last_n), 0, BIG, NULL, "N", "64", "tokens the penalties look back"},
    {NULL, "--presence-penalty", CLI_FLOAT, O(presence_penalty), -100, 100, NULL, "X", "0", "presence penalty (0: off)"},
    {NULL, "--frequency-penalty", CLI_FLOAT, O(frequency_penalty), -100, 100, NULL, "X", "0",
     "frequency penalty (0: off)"},
};

static const cli_flag LOGITS[] = {
    {NULL, "--tokens", CLI_STRS, O(token_lists), 0, 0, NULL, "LIST", NULL,
     "comma-separated token ids (required; repeatable: each list its own sequence, all in one batch)"},
    {"-o", "--output", CLI_STR, O(out), 0, 0, NULL, "FILE", NULL, "output: float32 [n_tokens][n_vocab] (required)"},
    {NULL, "--incremental", CLI_BOOL, O(incremental), 0, 0, NULL, NULL, NULL, "decode one token per step"},
};

static const cli_flag TOKENIZE[] = {
    {"-p", "--prompt", CLI_STR, O(prompt), 0, 0, NULL, "TEXT", NULL, "the text"},
    {"-f", "--file", CLI_STR, O(file), 0, 0, NULL, "FILE", NULL, "read the text from FILE (- : stdin)"},
    {NULL, "--ids", CLI_BOOL, O(ids), 0, 0, NULL, NULL, NULL, "print only the ids, as a JSON array"},
    {NULL, "--raw", CLI_BOOL, O(raw), 0, 0, NULL, NULL, NULL, "pieces as written in the vocabulary (Ġ for space)"},
    {NULL, "--no-bos", CLI_BOOL, O(no_bos), 0, 0, NULL, NULL, NULL, "do not add BOS"},
    {NULL, "--no-parse-special", CLI_BOOL, O(no_special), 0, 0, NULL, NULL, NULL,
     "treat control-token text as plain text"},
};

static const cli_flag BENCH[] = {
    {"-m", "--model", CLI_STRS, O(models), 0, 0, NULL, "FILE", NULL, "model file (repeatable; default: built-in)"},
    {"-p", "--n-prompt", CLI_INTS, O(n_prompt), 0, BIG, NULL, "LIST", "512", "prompt sizes (ppN rows)"},
    {"-n", "--n-gen", CLI_INTS, O(n_gen), 0, BIG, NULL, "LIST", "128", "generation lengths (tgN rows)"},
    {"-pg", NULL, CLI_PAIRS, O(pg), 0, BIG, NULL, "PP,TG", NULL, "prompt then generation (ppP+tgT rows; repeatable)"},
    {"-d", "--n-depth", CLI_INTS, O(depth), 0, BIG, NULL, "LIST", "0",
     "tokens already in the context before each test (\" @ dN\" rows)"},
    {"-r", "--repetitions", CLI_INT, O(reps), 1, 1000, NULL, "N", "5", "timed runs per row"},
    {"-o", "--output", CLI_CHOICE, O(output), 0, 0, BENCH_OUT, "FORMAT", "md", "output format"},
    {"-t", "--threads", CLI_INTS, O(threads), 0, 1024, NULL, "LIST", "0", "threads (0: all cores)"},
    {"-mla", "--mla-use", CLI_INTS, O(mlas), -1, 3, NULL, "LIST", "-1", "MLA modes (-1: 3 on MLA models)"},
    {"-fa", "--flash-attn", CLI_INTS, O(fas), 0, 0, FA, "LIST", "0", "flash attention"},
    {"-ctk", "--cache-type-k", CLI_INTS, O(ctks), 0, 0, CACHE, "LIST", "f16", "K (or latent) cache types"},
    {"-ctv", "--cache-type-v", CLI_INTS, O(ctvs), 0, 0, CACHE, "LIST", "f16", "V cache types"},
    {"-ub", "--ubatch-size", CLI_INTS, O(ubatches), 1, BIG, NULL, "LIST", "512", "micro-batch sizes"},
    {"-b", "--batch-size", CLI_INTS, O(batches), 1, BIG, NULL, "LIST", "2048", "logical batch sizes"},
    {"-khad", "--k-cache-hadamard", CLI_BOOL, O(k_hadamard), 0, 0, NULL, NULL, NULL, "Hadamard-rotated K cache"},
    {"-ser", "--smart-expert-reduction", CLI_STR, O(ser), 0, 0, NULL, "KMIN,T", NULL, "MoE: fewer experts"},
    {"-s", "--seed", CLI_SEED, O(seed), -1, 0, NULL, "N", "42", "seed of the random token ids"},
    {NULL, "--no-warmup", CLI_BOOL, O(no_warmup), 0, 0, NULL, NULL, NULL, "skip the warm-up run"},
    {NULL, "--plot", CLI_STR, O(plot), 0, 0, NULL, "FILE.svg", NULL, "also draw pp and tg speed against depth (-d)"},
};

static const cli_flag SYNTH[] = {
    {NULL, "--like", CLI_STR, O(like), 0, 0, NULL, "NAME", NULL,
     "the model whose shape to copy: deepseek-v2-lite, deepseek-v2, deepseek-v3, kimi-k2, qwen2-7b, llama-3-8b, tiny-mla"},
    {NULL, "--layers", CLI_INT, O(n_layers), 0, 4096, NULL, "N", "0", "only the first N layers (0: all)"},
    {NULL, "--type", CLI_CHOICE, O(wtype), 0, 0, WTYPE, "TYPE", "q8_0",
     "weight type (norms and router stay f32; rows a K-quant block does not fit fall back as llama-quantize does)"},
    {"-o", "--output", CLI_STR, O(out), 0, 0, NULL, "FILE", NULL, "the GGUF file to write (required)"},
    {"-s", "--seed", CLI_SEED, O(seed), -1, 0, NULL, "N", "42", "random seed"},
    {NULL, "--mainline", CLI_BOOL, O(mainline), 0, 0, NULL, NULL, NULL,
     "MLA tensors in mainline llama.cpp's layout (3-D attn_k_b/attn_v_b, no attn_kv_b); default: ik_llama.cpp's"},
    {"-t", "--threads", CLI_INT, O(n_threads), 0, 1024, NULL, "N", "0", "threads (0: all cores)"},
};

static const cli_flag QUANTIZE[] = {
    {NULL, "--override", CLI_STRS, O(qoverrides), 0, 0, NULL, "REGEX=TYPE", NULL,
     "tensors whose name matches get TYPE (repeatable, first match wins)"},
    {NULL, "--tensor-type", CLI_STRS, O(qoverrides), 0, 0, NULL, "REGEX=TYPE", NULL, "the same as --override"},
    {NULL, "--output-tensor-type", CLI_STR, O(out_type), 0, 0, NULL, "TYPE", NULL, "type of output.weight"},
    {NULL, "--token-embedding-type", CLI_STR, O(embd_type), 0, 0, NULL, "TYPE", NULL, "type of token_embd.weight"},
    {NULL, "--pure", CLI_BOOL, O(pure), 0, 0, NULL, NULL, NULL, "TYPE for every weight (no mix; overrides still apply)"},
    {NULL, "--imatrix", CLI_STR, O(imatrix), 0, 0, NULL, "FILE", NULL, "importance matrix (not supported yet: an error)"},
    {NULL, "--allow-requantize", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL,
     "quantized tensors are always re-quantized through f32; nothing to allow"},
    {"-t", "--threads", CLI_INT, O(n_threads), 0, 1024, NULL, "N", "0", "threads (0: all cores; NTHREADS too)"},
};

static const cli_flag PERPLEXITY[] = {
    {"-f", "--file", CLI_STR, O(file), 0, 0, NULL, "FILE", NULL, "the text to score (- : stdin)"},
    {"-c", "--ctx-size", CLI_INT, O(n_ctx), 8, BIG, NULL, "N", "512", "tokens per chunk; the second half of each is scored"},
    {"-b", "--batch-size", CLI_INT, O(n_batch), 1, BIG, NULL, "N", "2048",
     "logical batch: b / c chunks are decoded together, each its own sequence"},
    {NULL, "--chunks", CLI_INT, O(n_chunks), -1, BIG, NULL, "N", "-1", "score at most N chunks (-1: all)"},
    {NULL, "--score-all", CLI_BOOL, O(score_all), 0, 0, NULL, NULL, NULL,
     "score every position of every chunk and the partial last one, no BOS put in (Hugging Face's way)"},
    {NULL, "--kl-divergence-base", CLI_STR, O(kl_base), 0, 0, NULL, "FILE", NULL,
     "save the tokens and log-probabilities here (with --kl-divergence: read them from here)"},
    {NULL, "--kl-divergence", CLI_BOOL, O(kl), 0, 0, NULL, NULL, NULL,
     "KL divergence from the saved base to this model, its percentiles and the same-top-token rate"},
};

/* llama-server's flags */
static const cli_flag SERVE[] = {
    {NULL, "--host", CLI_STR, O(host), 0, 0, NULL, "ADDR", "127.0.0.1", "address to listen on (IPv4 or IPv6)"},
    {NULL, "--port", CLI_INT, O(port), 0, 65535, NULL, "N", "8080", "port to listen on (0: any free one, printed)"},
    {"-np", "--parallel", CLI_INT, O(n_parallel), 1, 256, NULL, "N", "1",
     "parallel slots; -c is split evenly among them"},
    {NULL, "--api-key", CLI_STR, O(api_key), 0, 0, NULL, "KEY", NULL,
     "clients must send `Authorization: Bearer KEY` (all routes but /health and /)"},
    {"-a", "--alias", CLI_STR, O(alias), 0, 0, NULL, "NAME", NULL, "the model id clients see (default: the file name)"},
    {NULL, "--slot-save-path", CLI_STR, O(slot_save_path), 0, 0, NULL, "DIR", NULL,
     "folder for POST /slots/{id}?action=save|restore"},
    {"-n", "--n-predict", CLI_INT, O(n_predict), -1, BIG, NULL, "N", "-1",
     "default max tokens per request (-1: until end of text or a full slot)"},
    {NULL, "--max-queue", CLI_INT, O(max_queue), 0, 1 << 20, NULL, "N", "64",
     "requests waiting for a slot before new ones get 503"},
    {NULL, "--prompt-chunk", CLI_INT, O(prompt_chunk), 1, BIG, NULL, "N", "256",
     "prompt tokens decoded per step over all slots (bounds how long a long prompt stalls the others)"},
    {"-to", "--timeout", CLI_INT, O(timeout), 1, 1 << 20, NULL, "S", "600", "seconds an idle connection stays open"},
    {"-cb", "--cont-batching", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL, "batching is always continuous"},
    {NULL, "--metrics", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL, "/metrics is always served"},
    {NULL, "--chat-template", CLI_STR, O(chat_template), 0, 0, NULL, "NAME", NULL,
     "chat template: chatml, deepseek3, llama3, ... (default: the model's)"},
    {NULL, "--jinja", CLI_NOTE, 0, 0, 0, NULL, NULL, NULL,
     "the model's template is always read from the file and recognised by its content"},
};

static const cli_flag HELP[] = {
    {"-h", "--help", CLI_BOOL, O(help), 0, 0, NULL, NULL, NULL, "this help"},
};

#define G(name, title) static const cli_group G_##name = {title, name, N(name)}
G(MODEL, "model");
G(ENGINE, "engine");
G(ENGINE_RUN, "");
G(IK_NOOP, "ik_llama.cpp flags latte does not need (accepted with a note)");
G(NO_WARMUP, "");
G(PROMPT, "prompt");
G(GENERATE, "generation");
G(TEMPLATE, "chat template");
G(RUN_MODE, "mode");
G(CHAT, "chat");
G(SAMPLING, "sampling");
G(LOGITS, "logits");
G(PLACE, "placement (-ngl, -ot, ...)");
G(PLAN, "info --plan");
G(TOKENIZE, "tokenize");
G(BENCH, "bench (llama-bench's flags; LIST: 1,2,4 or ranges 1-8, 128-512+128, 1-16*2)");
G(SERVE, "server (llama-server's flags)");
G(SYNTH, "synth");
G(PERPLEXITY, "perplexity (llama.cpp's method)");
G(QUANTIZE, "quantize (TYPE: Q4_K_M, Q5_K_M, Q4_K_S, Q5_K_S, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, F16, BF16, F32)");
G(HELP, "help");
#undef G

static const cli_group *const RUN_GROUPS[] = {&G_MODEL, &G_PROMPT, &G_GENERATE, &G_RUN_MODE, &G_TEMPLATE,
                                              &G_SAMPLING, &G_ENGINE, &G_ENGINE_RUN, &G_PLACE, &G_IK_NOOP, &G_NO_WARMUP, &G_HELP, NULL};
static const cli_group *const CHAT_GROUPS[] = {&G_MODEL, &G_CHAT, &G_GENERATE, &G_TEMPLATE, &G_SAMPLING,
                                               &G_ENGINE, &G_ENGINE_RUN, &G_PLACE, &G_IK_NOOP, &G_NO_WARMUP, &G_HELP, NULL};
static const cli_group *const LOGITS_GROUPS[] = {&G_MODEL, &G_LOGITS, &G_ENGINE, &G_ENGINE_RUN, &G_PLACE, &G_IK_NOOP, &G_NO_WARMUP,
                                                 &G_HELP, NULL};
static const cli_group *const TOKENIZE_GROUPS[] = {&G_MODEL, &G_TOKENIZE, &G_HELP, NULL};
static const cli_group *const INFO_GROUPS[] = {&G_MODEL, &G_PLAN, &G_PLACE, &G_HELP, NULL};
static const cli_group *const SERVE_GROUPS[] = {&G_MODEL, &G_SERVE, &G_SAMPLING, &G_ENGINE, &G_ENGINE_RUN, &G_PLACE, &G_IK_NOOP,
                                                &G_NO_WARMUP, &G_HELP, NULL};
static const cli_group *const BENCH_GROUPS[] = {&G_BENCH, &G_PLACE, &G_IK_NOOP, &G_HELP, NULL};
static const cli_group *const PPL_GROUPS[] = {&G_MODEL, &G_PERPLEXITY, &G_ENGINE_RUN, &G_PLACE, &G_IK_NOOP,
                                              &G_NO_WARMUP, &G_HELP, NULL};
static const cli_group *const SYNTH_GROUPS[] = {&G_SYNTH, &G_HELP, NULL};
static const cli_group *const QUANTIZE_GROUPS[] = {&G_QUANTIZE, &G_HELP, NULL};

const cli_command CLI_COMMANDS[] = {
    {"run", cmd_run, "[-m MODEL] (-p TEXT | -f FILE) [flags]", "generate text from a prompt", RUN_GROUPS, NULL},
    {"chat", cmd_chat, "[-m MODEL] [-sys TEXT] [flags]", "interactive chat console", CHAT_GROUPS, NULL},
    {"logits", cmd_logits, "[-m MODEL] --tokens LIST -o FILE [flags]", "write float32 logits for given token ids",
     LOGITS_GROUPS, NULL},
    {"info", cmd_info, "MODEL [--plan [placement flags]]", "describe a model file, or where its weights would live",
     INFO_GROUPS, "MODEL"},
    {"tokenize", cmd_tokenize, "[-m MODEL] (-p TEXT | -f FILE) [flags]", "text to tokens", TOKENIZE_GROUPS, NULL},
    {"bench", cmd_bench, "[-m MODEL] [-p LIST] [-n LIST] [-pg PP,TG] [-d LIST] [-r N] [-o FORMAT] [flags]",
     "prompt processing and generation speed (llama-bench)", BENCH_GROUPS, NULL},
    {"serve", cmd_serve, "[-m MODEL] [--host ADDR] [--port N] [-np N] [-c N] [--api-key KEY] [flags]",
     "OpenAI-compatible HTTP server with parallel slots (llama-server)", SERVE_GROUPS, NULL},
    {"perplexity", cmd_perplexity, "[-m MODEL] -f TEXT [-c 512] [-b 2048] [--chunks N] [--kl-divergence-base FILE [--kl-divergence]]",
     "perplexity over chunks of a text, and KL divergence against saved logits", PPL_GROUPS, NULL},
    {"synth", cmd_synth, "--like NAME [--layers N] [--type TYPE] -o FILE [-s SEED]",
     "write a random-weight model in the exact shape of a real one", SYNTH_GROUPS, NULL},
    {"quantize", cmd_quantize, "[flags] IN.gguf OUT.gguf TYPE [NTHREADS]",
     "re-write a model with other weight types (llama-quantize)", QUANTIZE_GROUPS, "IN.gguf OUT.gguf TYPE [NTHREADS]", 4},
    {NULL, NULL, NULL, NULL, NULL, NULL, 0},
};
