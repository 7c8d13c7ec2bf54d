/* uart_dw16550.c - Synopsys DesignWare DW_apb_uart (16550-compatible), polled, 8N1.
 *
 * Registers are 32-bit words at 4-byte strides (DW_apb_uart databook, "Register memory map"; the 16550
 * register set, offset = index * 4), as on the Alif Ensemble UART0..7:
 *   0x00 RBR (read) / THR (write) / DLL (LCR.DLAB = 1)     0x04 IER / DLH (LCR.DLAB = 1)
 *   0x08 IIR (read) / FCR (write)                           0x0C LCR
 *   0x10 MCR                                                0x14 LSR
 *   0x7C USR (DW-specific; bit 0 BUSY)
 * The divisor latch DLH:DLL = clock / (16 x baud) is computed in Python (BOARD_UART_DW_DIVISOR). The UART's
 * clock and its pins are enabled first from board data (BOARD_ENABLE_BITS, set by platform_init). */
#include "board_config.h"
#include "platform.h"

#define REG(off) (*(volatile uint32_t *)(BOARD_UART_BASE + (off)))
#define UART_RBR REG(0x00u)
#define UART_THR REG(0x00u)
#define UART_DLL REG(0x00u)
#define UART_IER REG(0x04u)
#define UART_DLH REG(0x04u)
#define UART_FCR REG(0x08u)
#define UART_LCR REG(0x0Cu)
#define UART_MCR REG(0x10u)
#define UART_LSR REG(0x14u)
#define UART_USR REG(0x7Cu)

#define LCR_8N1 0x03u          /* DLS = 3: 8 data bits; STOP = 0: 1 stop bit; PEN = 0: no parity */
#define LCR_DLAB (1u << 7)     /* divisor latch access */
#define FCR_FIFOE (1u << 0)    /* FIFOs on */
#define FCR_RFIFOR (1u << 1)   /* reset the receive FIFO */
#define FCR_XFIFOR (1u << 2)   /* reset the transmit FIFO */
#define LSR_DR (1u << 0)       /* data ready */
#define LSR_THRE (1u << 5)     /* THR (or the TX FIFO, with FIFOs on and THRE interrupts off) has room */
#define USR_BUSY (1u << 0)     /* a transfer is in progress: LCR writes are ignored while set */

void platform_uart_init(void) {
  while (UART_USR & USR_BUSY) {
  }
  UART_IER = 0;
  UART_LCR = LCR_DLAB;
  UART_DLL = BOARD_UART_DW_DIVISOR & 0xFFu;
  UART_DLH = (BOARD_UART_DW_DIVISOR >> 8) & 0xFFu;
  UART_LCR = LCR_8N1; /* DLAB back to 0 */
  UART_FCR = FCR_FIFOE | FCR_RFIFOR | FCR_XFIFOR;
  UART_MCR = 0;
}

void platform_write(const uint8_t *data, size_t n) {
  for (size_t i = 0; i < n; i++) {
    while (!(UART_LSR & LSR_THRE)) {
    }
    UART_THR = data[i];
  }
}

int platform_read_byte(void) {
  for (;;) {
    uint32_t s = UART_LSR; /* reading LSR also clears an overrun (LSR.OE, bit 1); the host retries */
    if (s & LSR_DR) return (int)(UART_RBR & 0xFFu);
  }
}
