/*
 * The C library routines Umbra uses.  GCC may emit calls to memcpy,
 * memmove, memset and memcmp in any freestanding program (and the engine's
 * objects reference them), so the hypervisor must define them.
 */
#ifndef HV_STRING_H
#define HV_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

#endif
