// SPDX-License-Identifier: MIT
/* ivshmem-doorbell PCI function driven through qtest: config, BARs, MSI-X. */
#include <stdio.h>

#include "ivpci.h"

#define CFG_ADDR 0xcf8
#define CFG_DATA 0xcfc

#define PCI_COMMAND 0x04
#define PCI_CMD_MEMORY 0x2
#define PCI_CMD_MASTER 0x4
#define PCI_STATUS 0x06
#define PCI_STATUS_CAPS 0x10
#define PCI_BAR(n) (0x10 + 4 * (n))
#define PCI_CAP_PTR 0x34
#define PCI_CAP_MSIX 0x11

#define MSIX_CTL 2		/* in the capability: message control */
#define MSIX_ENABLE 0x8000
#define MSIX_FN_MASK 0x4000
#define MSIX_TABLE 4		/* BIR in bits 0-2, offset above */
#define MSIX_PBA 8
#define MSIX_ENTRY 16		/* addr lo, addr hi, data, control */
#define MSIX_ENTRY_MASKED 1

#define IVSHMEM_ID 0x11101af4u	/* device 0x1110, vendor 0x1af4 */

static uint32_t cfg_addr(unsigned int off)
{
	return 0x80000000u | IVPCI_SLOT << 11 | (off & 0xfc);
}

uint32_t ivpci_cfg_read(struct qtest *q, unsigned int off)
{
	qtest_outl(q, CFG_ADDR, cfg_addr(off));
	return qtest_inl(q, CFG_DATA);
}

void ivpci_cfg_write(struct qtest *q, unsigned int off, uint32_t v)
{
	qtest_outl(q, CFG_ADDR, cfg_addr(off));
	qtest_outl(q, CFG_DATA, v);
}

uint16_t ivpci_cfg_read16(struct qtest *q, unsigned int off)
{
	qtest_outl(q, CFG_ADDR, cfg_addr(off));
	return qtest_inw(q, (uint16_t)(CFG_DATA + (off & 2)));
}

void ivpci_cfg_write16(struct qtest *q, unsigned int off, uint16_t v)
{
	qtest_outl(q, CFG_ADDR, cfg_addr(off));
	qtest_outw(q, (uint16_t)(CFG_DATA + (off & 2)), v);
}

uint64_t ivpci_bar_size(struct qtest *q, unsigned int bar)
{
	uint32_t orig = ivpci_cfg_read(q, PCI_BAR(bar)), lo, hi = ~0u;
	uint64_t mask;

	ivpci_cfg_write(q, PCI_BAR(bar), ~0u);
	lo = ivpci_cfg_read(q, PCI_BAR(bar));
	ivpci_cfg_write(q, PCI_BAR(bar), orig);
	if (!lo)
		return 0;
	if (lo & 1)		/* I/O space: 16-bit decode */
		return (uint16_t)(~(lo & ~3u) + 1);
	if ((lo & 6) == 4) {	/* 64-bit: the next BAR holds the top */
		uint32_t orig_hi = ivpci_cfg_read(q, PCI_BAR(bar + 1));

		ivpci_cfg_write(q, PCI_BAR(bar + 1), ~0u);
		hi = ivpci_cfg_read(q, PCI_BAR(bar + 1));
		ivpci_cfg_write(q, PCI_BAR(bar + 1), orig_hi);
	}
	mask = (uint64_t)hi << 32 | (lo & ~0xfu);
	return ~mask + 1;
}

static unsigned int find_msix(struct qtest *q)
{
	unsigned int off, hops = 0;

	if (!(ivpci_cfg_read16(q, PCI_STATUS) & PCI_STATUS_CAPS))
		return 0;
	off = ivpci_cfg_read(q, PCI_CAP_PTR) & 0xfc;
	while (off && hops++ < 48) {
		uint32_t hdr = ivpci_cfg_read(q, off);

		if ((hdr & 0xff) == PCI_CAP_MSIX)
			return off;
		off = (hdr >> 8) & 0xfc;
	}
	return 0;
}

static void place_bars(struct qtest *q)
{
	ivpci_cfg_write(q, PCI_BAR(0), (uint32_t)IVPCI_BAR0);
	ivpci_cfg_write(q, PCI_BAR(1), (uint32_t)IVPCI_BAR1);
	ivpci_cfg_write(q, PCI_BAR(2), (uint32_t)IVPCI_BAR2);
	ivpci_cfg_write(q, PCI_BAR(3), (uint32_t)(IVPCI_BAR2 >> 32));
}

static int setup_msix(struct ivpci *d, uint32_t magic)
{
	struct qtest *q = d->q;
	uint32_t table, pba;
	uint16_t ctl;

	d->msix_cap = find_msix(q);
	if (!d->msix_cap) {
		fprintf(stderr, "ivpci: no MSI-X capability\n");
		return -1;
	}
	ctl = ivpci_cfg_read16(q, d->msix_cap + MSIX_CTL);
	table = ivpci_cfg_read(q, d->msix_cap + MSIX_TABLE);
	pba = ivpci_cfg_read(q, d->msix_cap + MSIX_PBA);
	if ((table & 7) != 1 || (pba & 7) != 1) {
		fprintf(stderr, "ivpci: MSI-X table/PBA not in BAR1 (0x%x "
			"0x%x)\n", table, pba);
		return -1;
	}
	d->vectors = (ctl & 0x7ffu) + 1;
	d->table = IVPCI_BAR1 + (table & ~7u);
	d->pba = IVPCI_BAR1 + (pba & ~7u);
	for (unsigned int v = 0; v < d->vectors; v++) {
		uint64_t e = d->table + MSIX_ENTRY * v;

		qtest_writel(q, e, (uint32_t)IVPCI_MSI_RAM(v));
		qtest_writel(q, e + 4, 0);
		qtest_writel(q, e + 8, magic | v);
		qtest_writel(q, e + 12, 0);
		ivpci_msi_clear(d, v);
	}
	ctl = (uint16_t)((ctl | MSIX_ENABLE) & ~MSIX_FN_MASK);
	ivpci_cfg_write16(q, d->msix_cap + MSIX_CTL, ctl);
	if (!(ivpci_cfg_read16(q, d->msix_cap + MSIX_CTL) & MSIX_ENABLE)) {
		fprintf(stderr, "ivpci: MSI-X did not enable\n");
		return -1;
	}
	return 0;
}

int ivpci_setup(struct ivpci *d, struct qtest *q, uint32_t magic)
{
	uint32_t id, bar2;
	uint16_t cmd;

	d->q = q;
	id = ivpci_cfg_read(q, 0);
	if (id != IVSHMEM_ID) {
		fprintf(stderr, "ivpci: 00:%02x.0 is 0x%08x, not ivshmem\n",
			IVPCI_SLOT, id);
		return -1;
	}
	/* Size with decode off, as firmware does: no stray mappings. */
	if (ivpci_bar_size(q, 0) != 0x100 || ivpci_bar_size(q, 1) != 0x1000) {
		fprintf(stderr, "ivpci: BAR0/BAR1 are not 256 B / 4 KiB\n");
		return -1;
	}
	bar2 = ivpci_cfg_read(q, PCI_BAR(2));
	if ((bar2 & 0xf) != 0xc) {
		fprintf(stderr, "ivpci: BAR2 flags 0x%x, want 64-bit "
			"prefetchable\n", bar2 & 0xf);
		return -1;
	}
	d->bar2_size = ivpci_bar_size(q, 2);
	place_bars(q);
	cmd = ivpci_cfg_read16(q, PCI_COMMAND);
	ivpci_cfg_write16(q, PCI_COMMAND,
			  (uint16_t)(cmd | PCI_CMD_MEMORY | PCI_CMD_MASTER));
	if (setup_msix(d, magic))
		return -1;
	if (!qtest_ok(q)) {
		fprintf(stderr, "ivpci: qtest failed during setup\n");
		return -1;
	}
	return 0;
}

uint32_t ivpci_ivposition(struct ivpci *d)
{
	return qtest_readl(d->q, IVPCI_BAR0 + IVPCI_IVPOSITION);
}

void ivpci_doorbell(struct ivpci *d, unsigned int peer, unsigned int vector)
{
	qtest_writel(d->q, IVPCI_BAR0 + IVPCI_DOORBELL,
		     (uint32_t)(peer << 16 | vector));
}

void ivpci_msix_mask(struct ivpci *d, unsigned int v, bool masked)
{
	qtest_writel(d->q, d->table + MSIX_ENTRY * v + 12,
		     masked ? MSIX_ENTRY_MASKED : 0);
}

bool ivpci_msix_pending(struct ivpci *d, unsigned int v)
{
	uint32_t w = qtest_readl(d->q, d->pba + 4 * (v / 32));

	return qtest_ok(d->q) && (w >> (v % 32) & 1);
}

uint32_t ivpci_msi_word(struct ivpci *d, unsigned int v)
{
	return qtest_readl(d->q, IVPCI_MSI_RAM(v));
}

void ivpci_msi_clear(struct ivpci *d, unsigned int v)
{
	qtest_writel(d->q, IVPCI_MSI_RAM(v), 0);
}
