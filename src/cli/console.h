/* console.h: where `latte chat` reads its messages: a terminal gets line editing and history
 * (libedit), anything else is read line by line. Lines have no length limit. A message is a
 * line, lines joined by a trailing backslash, or a block between /multiline and /end. */
#ifndef LATTE_CLI_CONSOLE_H
#define LATTE_CLI_CONSOLE_H

#include <stdbool.h>

typedef struct console console;

/* Opens the console on stdin; NULL when out of memory. */
console *console_open(void);
bool console_is_tty(const console *c);
/* Reads one message (without its final newline; inner lines joined by "\n"). Returns a
 * malloc'ed string, or NULL at the end of input. */
char *console_read(console *c);
void console_close(console *c);

#endif
