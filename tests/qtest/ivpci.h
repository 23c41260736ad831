/* SPDX-License-Identifier: MIT */
/*
 * Drive an ivshmem-doorbell PCI function (at 00:04.0) through qtest, as
 * firmware and a guest driver would: config space through ports 0xcf8/0xcfc,
 * BAR sizing and placement, MSI-X pointed at guest RAM so that an interrupt
 * becomes a RAM write the test can read.
 */
#ifndef QT_IVPCI_H
#define QT_IVPCI_H

#include <stdbool.h>
#include <stdint.h>

#include "qtest_client.h"

#define IVPCI_SLOT 4		/* -device ...,addr=04.0 */

/* Where the BARs go: free q35 MMIO below 0xe0000000, and at 4G. */
#define IVPCI_BAR0 0xc0000000ull /* 256 B registers */
#define IVPCI_BAR1 0xc0001000ull /* 4 KiB MSI-X table + PBA */
#define IVPCI_BAR2 0x100000000ull /* the shared region, 64-bit */

/* BAR0 registers (QEMU hw/misc/ivshmem.c). */
#define IVPCI_INTRMASK 0x00
#define IVPCI_INTRSTATUS 0x04
#define IVPCI_IVPOSITION 0x08
#define IVPCI_DOORBELL 0x0c

/* MSI-X of vector v writes its data here in guest RAM. */
#define IVPCI_MSI_RAM(v) (0x1000ull + 4 * (v))

struct ivpci {
	struct qtest *q;
	uint64_t bar2_size;	/* from BAR sizing */
	unsigned int vectors;	/* MSI-X table size from the capability */
	unsigned int msix_cap;	/* config offset of the MSI-X capability */
	uint64_t table, pba;	/* guest-physical MSI-X table and PBA */
};

uint32_t ivpci_cfg_read(struct qtest *q, unsigned int off);
void ivpci_cfg_write(struct qtest *q, unsigned int off, uint32_t v);
uint16_t ivpci_cfg_read16(struct qtest *q, unsigned int off);
void ivpci_cfg_write16(struct qtest *q, unsigned int off, uint16_t v);

/*
 * Size BAR @bar the way firmware does (all-ones, read back, restore); a
 * 64-bit BAR takes its upper half from @bar + 1. 0 if unimplemented.
 */
uint64_t ivpci_bar_size(struct qtest *q, unsigned int bar);

/*
 * Check it is an ivshmem-doorbell with MSI-X, size and place its BARs, turn
 * on memory decode and bus mastering, point every MSI-X vector at
 * IVPCI_MSI_RAM(v) with data @magic | v (unmasked), clear those RAM words
 * and enable MSI-X. 0, or -1 after printing what was wrong.
 */
int ivpci_setup(struct ivpci *d, struct qtest *q, uint32_t magic);

uint32_t ivpci_ivposition(struct ivpci *d);
void ivpci_doorbell(struct ivpci *d, unsigned int peer, unsigned int vector);

void ivpci_msix_mask(struct ivpci *d, unsigned int v, bool masked);
bool ivpci_msix_pending(struct ivpci *d, unsigned int v);
/* The MSI RAM word of vector @v; ivpci_msi_clear() zeroes it. */
uint32_t ivpci_msi_word(struct ivpci *d, unsigned int v);
void ivpci_msi_clear(struct ivpci *d, unsigned int v);

#endif
