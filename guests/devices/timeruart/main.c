/*
 * timeruart: interrupts from the passed-through PIT and UART.
 *
 * Remaps the PIC to vectors 0x20..0x2F, programs PIT channel 0 at ~1 kHz
 * and counts `ticks=N` (default 100) timer interrupts with HLT between
 * them; checks that RFLAGS.IF masks a pending IRQ 0 and that STI lets it
 * in; then drives COM1 by interrupts: in loopback mode (bytes sent by THRE
 * interrupts come back as receive interrupts and never leave the UART),
 * then in normal mode (a line sent by THRE interrupts only).  The output
 * is deterministic: the same natively and under Umbra.
 */
#include "irq.h"

#define COM1 0x3f8
#define UART_RBR (COM1 + 0)
#define UART_THR (COM1 + 0)
#define UART_IER (COM1 + 1)
#define UART_IIR (COM1 + 2)
#define UART_FCR (COM1 + 2)
#define UART_MCR (COM1 + 4)
#define UART_LSR (COM1 + 5)
#define IER_RDA  0x01
#define IER_THRE 0x02
#define MCR_DTR_RTS 0x03
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10

#define TICK_HZ 1000u

static int failures;

#define CHECK(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			kprintf("timeruart: FAIL line %d: ", __LINE__);      \
			kprintf(__VA_ARGS__);                                \
			kprintf("\n");                                       \
			failures++;                                          \
		}                                                            \
	} while (0)

/* ---- timer ----------------------------------------------------------------- */

static volatile unsigned ticks;

static void on_timer(unsigned irq)
{
	(void)irq;
	ticks++;
}

static void test_timer(unsigned n)
{
	unsigned halts = 0, before, spins;

	ticks = 0;
	irq_install(IRQ_TIMER, on_timer);
	pit_start(TICK_HZ); /* unmasks IRQ 0 */
	while (ticks < n && halts < 100 * n) {
		wait_for_interrupt();
		halts++;
	}
	CHECK(ticks >= n, "only %u ticks after %u HLTs", ticks, halts);
	kprintf("timer: %u ticks of IRQ 0 at %u Hz, HLT between them: %s\n", n,
		TICK_HZ, ticks >= n ? "ok" : "FAILED");

	/* With IF clear a tick stays pending in the PIC (IRR bit 0); STI
	 * lets it in at once. */
	before = ticks;
	for (spins = 0; spins < 100000000u && !(pic_irr() & 1); spins++)
		;
	CHECK(pic_irr() & 1, "IRQ 0 never became pending");
	CHECK(ticks == before, "a tick was taken with IF clear");
	kprintf("timer: IRQ 0 pending with IF clear: %s, not taken: %s\n",
		(pic_irr() & 1) ? "yes" : "no", ticks == before ? "yes" : "no");
	__asm__ volatile("sti; nop; cli" ::: "memory");
	CHECK(ticks == before + 1, "STI took %u ticks, want 1", ticks - before);
	kprintf("timer: taken right after STI: %u\n", ticks - before);

	pit_stop(); /* masks IRQ 0 */
}

/* ---- UART ------------------------------------------------------------------- */

static const char *tx_buf;
static volatile unsigned tx_pos, tx_len, rx_len;
static volatile unsigned thre_irqs, rda_irqs;
static char rx_buf[128];

static void on_uart(unsigned irq)
{
	uint8_t iir;

	(void)irq;
	while (!((iir = inb(UART_IIR)) & 1)) {
		switch (iir & 0x0E) {
		case 0x04: /* received data available */
		case 0x0C: /* character timeout (FIFO mode) */
			rda_irqs++;
			while (inb(UART_LSR) & 1) {
				uint8_t c = inb(UART_RBR);
				if (rx_len < sizeof(rx_buf) - 1)
					rx_buf[rx_len++] = (char)c;
			}
			break;
		case 0x02: /* transmitter holding register empty */
			thre_irqs++;
			if (tx_pos < tx_len)
				outb(UART_THR, (uint8_t)tx_buf[tx_pos++]);
			else
				outb(UART_IER, inb(UART_IER) & ~IER_THRE);
			break;
		case 0x06: /* line status */
			(void)inb(UART_LSR);
			break;
		default: /* modem status */
			(void)inb(COM1 + 6);
			break;
		}
	}
}

/* Send s by THRE interrupts (and, with rda, receive by RDA interrupts
 * until as many bytes came back); returns when done or after `limit` HLTs. */
static void uart_irq_send(const char *s, bool rda)
{
	unsigned halts = 0, limit = 1000000;

	tx_buf = s;
	tx_pos = 0;
	tx_len = (unsigned)strlen(s);
	rx_len = 0;
	thre_irqs = rda_irqs = 0;
	/* Setting ETBEI with THR empty raises the THRE interrupt at once. */
	outb(UART_IER, (uint8_t)(IER_THRE | (rda ? IER_RDA : 0)));
	while (halts++ < limit) {
		__asm__ volatile("cli" ::: "memory");
		if (tx_pos >= tx_len && !(inb(UART_IER) & IER_THRE) &&
		    (!rda || rx_len >= tx_len))
			break;
		wait_for_interrupt();
	}
	outb(UART_IER, 0);
}

static void test_uart(void)
{
	static const char loop_msg[] = "loopback: bytes out by THRE, back by RDA interrupts";
	static const char line[] = "uart: this line was sent by THRE interrupts only\r\n";

	irq_install(4, on_uart);
	/* Drain the transmitter, FIFO off: one interrupt per byte. */
	while (!(inb(UART_LSR) & 0x40))
		;
	outb(UART_FCR, 0x00);
	outb(UART_IER, 0);
	(void)inb(UART_IIR);
	(void)inb(UART_LSR);
	while (inb(UART_LSR) & 1)
		(void)inb(UART_RBR);
	pic_unmask(4);

	outb(UART_MCR, MCR_LOOP | MCR_OUT2 | MCR_DTR_RTS);
	uart_irq_send(loop_msg, true);
	while (!(inb(UART_LSR) & 0x40))
		;
	outb(UART_MCR, MCR_OUT2 | MCR_DTR_RTS);
	rx_buf[rx_len] = 0;
	CHECK(tx_pos == tx_len, "loopback: sent %u of %u bytes", tx_pos, tx_len);
	CHECK(rx_len == tx_len && !memcmp(rx_buf, loop_msg, tx_len),
	      "loopback: received %u bytes '%s'", rx_len, rx_buf);
	kprintf("uart: loopback sent %u bytes, received %u: '%s'\n", tx_pos,
		rx_len, rx_buf);
	CHECK(thre_irqs >= tx_len && rda_irqs >= tx_len,
	      "loopback: %u THRE and %u RDA interrupts for %u bytes", thre_irqs,
	      rda_irqs, tx_len);

	uart_irq_send(line, false);
	while (!(inb(UART_LSR) & 0x40))
		;
	CHECK(tx_pos == tx_len, "THRE: sent %u of %u bytes", tx_pos, tx_len);
	CHECK(thre_irqs >= tx_len, "THRE: %u interrupts for %u bytes", thre_irqs,
	      tx_len);
	kprintf("uart: THRE interrupts sent %u bytes\n", tx_pos);

	pic_mask(4);
	outb(UART_MCR, MCR_DTR_RTS);
	outb(UART_FCR, 0xC7);
}

int guest_main(void)
{
	unsigned n = (unsigned)cmdline_get_u64("ticks", 100);

	kprintf("timeruart: PIC remapped to 0x20, PIT at %u Hz, COM1 by interrupts\n",
		TICK_HZ);
	pic_init();
	test_timer(n);
	test_uart();
	kprintf("timeruart: %s\n", failures ? "FAILED" : "ok");
	return failures ? 1 : 0;
}
