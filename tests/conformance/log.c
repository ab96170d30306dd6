/* Parser of the walkprobe serial log; see PROTOCOL.md. */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

bool log_open(struct log_reader *r, const char *path)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	r->f = fopen(path, "r");
	if (!r->f) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		return false;
	}
	return true;
}

void log_close(struct log_reader *r)
{
	if (r->f)
		fclose(r->f);
	free(r->buf);
	r->f = NULL;
	r->buf = NULL;
}

/* Read one line without its line ending; false at end of file. */
static bool read_line(struct log_reader *r)
{
	size_t n = 0;
	int ch;

	while ((ch = fgetc(r->f)) != EOF && ch != '\n') {
		if (n + 2 > r->cap) {
			r->cap = r->cap ? r->cap * 2 : 1024;
			r->buf = realloc(r->buf, r->cap);
			if (!r->buf) {
				perror("realloc");
				exit(2);
			}
		}
		r->buf[n++] = (char)ch;
	}
	if (ch == EOF && n == 0)
		return false;
	while (n && r->buf[n - 1] == '\r')
		n--;
	if (!r->buf) {
		r->cap = 1024;
		r->buf = malloc(r->cap);
		if (!r->buf)
			exit(2);
	}
	r->buf[n] = 0;
	r->line++;
	return true;
}

static enum umbra_mode mode_from_name(const char *s)
{
	if (!strcmp(s, "32"))
		return UMBRA_MODE_32;
	if (!strcmp(s, "pae"))
		return UMBRA_MODE_PAE;
	if (!strcmp(s, "long4"))
		return UMBRA_MODE_LONG4;
	if (!strcmp(s, "long5"))
		return UMBRA_MODE_LONG5;
	return UMBRA_MODE_INVALID;
}

static bool parse_header(struct log_reader *r)
{
	struct log_header *h = &r->hdr;
	char *save = NULL, *tok;
	bool seen_mode = false, seen_phys = false, seen_sentinel = false;

	memset(h, 0, sizeof(*h));
	for (tok = strtok_r(r->buf + 1, " ", &save); tok;
	     tok = strtok_r(NULL, " ", &save)) {
		char *eq = strchr(tok, '=');
		uint64_t v;

		if (!eq)
			continue; /* the tool name */
		*eq = 0;
		v = strtoull(eq + 1, NULL, 0);
		if (!strcmp(tok, "mode")) {
			snprintf(h->mode_name, sizeof(h->mode_name), "%s", eq + 1);
			h->mode = mode_from_name(eq + 1);
			seen_mode = true;
		} else if (!strcmp(tok, "v") && v != 1) {
			fprintf(stderr, "%s:%u: protocol version %s, expected 1\n",
				r->path, r->line, eq + 1);
			return false;
		}
#define FIELD(name, dst)              \
	else if (!strcmp(tok, name)) \
		dst = v;
		FIELD("seed", h->seed)
		FIELD("cases", h->cases)
		FIELD("pse36", h->caps.pse36)
		FIELD("gbpages", h->caps.gbpages)
		FIELD("pse", h->pse)
		FIELD("pae", h->pae)
		FIELD("nx", h->nx)
		FIELD("lm", h->lm)
		FIELD("la57", h->la57)
		FIELD("pku", h->pku)
		FIELD("smep", h->smep)
		FIELD("smap", h->smap)
#undef FIELD
		else if (!strcmp(tok, "maxphy")) {
			h->caps.maxphyaddr = (uint8_t)v;
			seen_phys = true;
		} else if (!strcmp(tok, "cr2sentinel")) {
			h->cr2_sentinel = v;
			seen_sentinel = true;
		}
	}
	if (!seen_mode || h->mode == UMBRA_MODE_INVALID || !seen_phys ||
	    !seen_sentinel) {
		fprintf(stderr, "%s:%u: incomplete header (mode, maxphy and "
			"cr2sentinel are required)\n", r->path, r->line);
		return false;
	}
	return true;
}

/* Parse `count` hex numbers from *p. */
static bool hex_fields(char **p, uint64_t *out, unsigned count)
{
	for (unsigned i = 0; i < count; i++) {
		char *end;

		while (**p == ' ')
			(*p)++;
		if (!**p)
			return false;
		errno = 0;
		out[i] = strtoull(*p, &end, 16);
		if (end == *p || errno || (*end && *end != ' '))
			return false;
		*p = end;
	}
	return true;
}

static bool parse_case(struct log_reader *r, struct log_case *c)
{
	enum { NFIXED = 20 };
	uint64_t f[NFIXED], ent[5];
	char *p = r->buf + 1;

	memset(c, 0, sizeof(*c));
	c->line = r->line;
	if (!hex_fields(&p, f, NFIXED))
		goto bad;
	c->idx = (unsigned)f[0];
	c->cr0 = f[1];
	c->cr3 = f[2];
	c->cr4 = f[3];
	c->efer = f[4];
	c->pkru = (uint32_t)f[5];
	c->va = f[6];
	c->kind = (unsigned)f[7];
	c->cpl = (unsigned)f[8];
	c->ac = (unsigned)f[9];
	c->stack = (unsigned)f[10];
	c->rsv_level = (unsigned)f[11];
	c->rsv_bit = (unsigned)f[12];
	c->cr3_vec = (uint32_t)f[13];
	c->vec = (uint32_t)f[14];
	c->err = (uint32_t)f[15];
	c->cr2 = f[16];
	c->pa = f[17];
	c->pa_check = (unsigned)f[18];
	c->n = (unsigned)f[19];
	if (c->n > LOG_MAX_ENTRIES || c->n == 0 ||
	    c->kind > UMBRA_ACCESS_FETCH || c->cpl > 3 ||
	    c->pa_check > LOG_PA_MISMATCH)
		goto bad;
	for (unsigned i = 0; i < c->n; i++) {
		if (!hex_fields(&p, ent, 5))
			goto bad;
		c->e[i].level = (unsigned)ent[0];
		c->e[i].flags = (unsigned)ent[1];
		c->e[i].gpa = ent[2];
		c->e[i].before = ent[3];
		c->e[i].after = ent[4];
		if (!c->e[i].level || c->e[i].level > UMBRA_LEVELS_MAX)
			goto bad;
	}
	while (*p == ' ')
		p++;
	if (*p)
		goto bad;
	return true;
bad:
	fprintf(stderr, "%s:%u: malformed record: %.200s\n", r->path, r->line,
		r->buf);
	return false;
}

enum log_item log_next(struct log_reader *r, struct log_case *c)
{
	while (read_line(r)) {
		char *s = r->buf;

		if (!strncmp(s, "PANIC", 5) || strstr(s, "PANIC:")) {
			snprintf(r->panic_msg, sizeof(r->panic_msg), "%s", s);
			fprintf(stderr, "%s:%u: guest %s\n", r->path, r->line, s);
			return LOG_ERROR;
		}
		if (s[0] == 'H' && s[1] == ' ') {
			if (r->have_header) {
				fprintf(stderr, "%s:%u: second header\n",
					r->path, r->line);
				return LOG_ERROR;
			}
			if (!parse_header(r))
				return LOG_ERROR;
			r->have_header = true;
		} else if (s[0] == 'C' && s[1] == ' ') {
			if (!r->have_header || r->have_trailer) {
				fprintf(stderr, "%s:%u: record outside header/"
					"trailer\n", r->path, r->line);
				return LOG_ERROR;
			}
			if (!parse_case(r, c))
				return LOG_ERROR;
			if (c->idx != r->records) {
				fprintf(stderr, "%s:%u: record %u, expected %u "
					"(lost output?)\n", r->path, r->line,
					c->idx, r->records);
				return LOG_ERROR;
			}
			r->records++;
			return LOG_CASE;
		} else if (s[0] == 'T' && s[1] == ' ') {
			const char *k = strstr(s, "cases=");

			r->have_trailer = true;
			r->trailer_cases = k ? (unsigned)strtoul(k + 6, NULL, 0) : 0;
		}
		/* Anything else is commentary. */
	}
	if (!r->have_header) {
		fprintf(stderr, "%s: no header line: did the guest boot?\n",
			r->path);
		return LOG_ERROR;
	}
	if (!r->have_trailer) {
		fprintf(stderr, "%s: no trailer after %u records: guest died "
			"or output was cut\n", r->path, r->records);
		return LOG_ERROR;
	}
	if (r->trailer_cases != r->records || r->hdr.cases != r->records) {
		fprintf(stderr, "%s: %u records, but header says %u and "
			"trailer %u\n", r->path, r->records, r->hdr.cases,
			r->trailer_cases);
		return LOG_ERROR;
	}
	return LOG_EOF;
}
