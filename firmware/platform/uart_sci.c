/* uart_sci.c - Renesas RA8 SCI_B (the 32-bit-register SCI of the RA8M1/RA8D1/RA8T1), asynchronous 8N1, polled.
 *
 * No RA8 hardware manual was at hand when this was written: the SCI_B register layout below matches the
 * FSP-derived headers of other open RTOSes (NuttX arch/arm/src/ra8/hardware/ra_sci.h); the system addresses
 * (PRCR, SCICKCR, PWPR, PFS) are the RA8 family's as remembered from FSP's R7FA8D1BH.h and the RA8D1 User's
 * Manual: Hardware (R01UH0995) chapters "Low Power Modes" (module stop), "Clock Generation Circuit" and "I/O
 * Ports". Check them against the manual before relying on this driver; it is built and linked, not run.
 *
 * SCI_B registers (offsets from the channel base; RA8D1 HUM "Serial Communications Interface (SCI_B)"):
 *   0x00 RDR  (RDAT in bits 8:0)                0x04 TDR  (TDAT in bits 8:0)
 *   0x08 CCR0 (RE bit 0, TE bit 4)               0x0C CCR1 (SPB2DT bit 4: TXD idles high while TE = 0)
 *   0x10 CCR2 (BGDM bit 4, ABCS bit 5, BRR 15:8, BRME bit 16, CKS 21:20, MDDR 31:24)
 *   0x14 CCR3 (CHR 9:8 = 10b for 8 bits, LSBF bit 12, STP bit 14 = 0: 1 stop, MOD 18:16 = 000b asynchronous)
 *   0x18 CCR4                                    0x1C CESR (RIST bit 0, TIST bit 4: RE / TE took effect)
 *   0x48 CSR  (ORER bit 24, PER bit 27, FER bit 28, TDRE bit 29, RDRF bit 31)
 *   0x68 CFCLR (write 1 to clear: ORERC bit 24, PERC bit 27, FERC bit 28)
 * The bit-rate fields (CKS, BRR, MDDR) are computed in Python from uart.clock_hz: BOARD_UART_SCI_*. */
#include "board_config.h"
#include "platform.h"

#define REG32(addr) (*(volatile uint32_t *)(addr))
#define REG16(addr) (*(volatile uint16_t *)(addr))
#define REG8(addr) (*(volatile uint8_t *)(addr))

/* Register write protection (HUM "Register Write Protection"): PRCR at SYSTEM + 0x3FE, key 0xA5 in bits 15:8;
 * PRC0 (bit 0) guards the clock-generation registers, PRC1 (bit 1) the module-stop registers. */
#define PRCR REG16(0x4001E3FEu)
#define PRCR_KEY 0xA500u
#define PRCR_PRC0 (1u << 0)
#define PRCR_PRC1 (1u << 1)

/* SCICLK, the SCI_B operating clock (HUM "Clock Generation Circuit": SCICKDIVCR at SYSTEM + 0x054, SCICKCR at
 * SYSTEM + 0x055). The driver selects MOCO (8 MHz, running from reset) undivided, so uart.clock_hz = 8 MHz.
 * Source codes as in FSP's clock-source enumeration (0 HOCO, 1 MOCO, 2 LOCO, 3 main oscillator, ...). */
#define SCICKDIVCR REG8(0x4001E054u)
#define SCICKCR REG8(0x4001E055u)
#define SCICKCR_CKSEL_MASK 0x0Fu
#define SCICKCR_CKSEL_MOCO 0x01u
#define SCICKCR_CKSREQ (1u << 6) /* 1: request to stop the clock (to switch its source) */
#define SCICKCR_CKSRDY (1u << 7) /* 1: the clock is stopped */

/* Pin function (HUM "I/O Ports"): PmnPFS at PFS + 0x40 * m + 4 * n with PSEL in bits 28:24 and PMR (bit 16:
 * peripheral mode); writes need PWPR.PFSWE (bit 6) after clearing PWPR.B0WI (bit 7). PWPRS is the copy for
 * Secure accesses (the firmware runs Secure: the RA8 boots in Secure state and nothing changes it). */
#define PFS_BASE 0x40400800u
#define PWPR REG8(0x40400D03u)
#define PWPRS REG8(0x40400D05u)
#define PWPR_PFSWE (1u << 6)
#define PWPR_B0WI (1u << 7)
#define PFS_PMR (1u << 16)
#define PFS_PSEL_SHIFT 24u

#define SCI(off) REG32(BOARD_UART_BASE + (off))
#define SCI_RDR SCI(0x00u)
#define SCI_TDR SCI(0x04u)
#define SCI_CCR0 SCI(0x08u)
#define SCI_CCR1 SCI(0x0Cu)
#define SCI_CCR2 SCI(0x10u)
#define SCI_CCR3 SCI(0x14u)
#define SCI_CCR4 SCI(0x18u)
#define SCI_CESR SCI(0x1Cu)
#define SCI_CSR SCI(0x48u)
#define SCI_CFCLR SCI(0x68u)

#define CCR0_RE (1u << 0)
#define CCR0_TE (1u << 4)
#define CCR1_SPB2DT (1u << 4)
#define CCR2_BGDM (1u << 4)
#define CCR2_ABCS (1u << 5)
#define CCR3_CHR_8BIT (2u << 8)
#define CCR3_LSBF (1u << 12)
#define CESR_RIST (1u << 0)
#define CESR_TIST (1u << 4)
#define CSR_ORER (1u << 24)
#define CSR_PER (1u << 27)
#define CSR_FER (1u << 28)
#define CSR_TDRE (1u << 29)
#define CSR_RDRF (1u << 31)
#define CSR_ERRORS (CSR_ORER | CSR_PER | CSR_FER)

/* A flag that never comes (a wrong address above) must not hang the board before it can say anything. */
#define SPIN_LIMIT 1000000u

static void wait_bits(volatile uint32_t *reg, uint32_t mask, uint32_t want) {
  for (uint32_t i = 0; i < SPIN_LIMIT && (*reg & mask) != want; i++) {
  }
}

static void wait_bits8(volatile uint8_t *reg, uint8_t mask, uint8_t want) {
  for (uint32_t i = 0; i < SPIN_LIMIT && (*reg & mask) != want; i++) {
  }
}

#if BOARD_NUM_UART_SCI_PINS > 0
static const struct board_sci_pin {
  uint32_t port, pin, psel;
} pins[BOARD_NUM_UART_SCI_PINS] = BOARD_UART_SCI_PINS;
#endif

static void start_module_and_clock(void) {
  PRCR = PRCR_KEY | PRCR_PRC0 | PRCR_PRC1;
  REG32(BOARD_UART_SCI_MSTP_REG) &= ~BOARD_UART_SCI_MSTP_MASK;
  (void)REG32(BOARD_UART_SCI_MSTP_REG); /* read back: the channel is running before it is touched */
  /* SCICLK <- MOCO / 1: stop the clock, switch, start it again (HUM: SCICKCR clock switching procedure) */
  SCICKCR |= SCICKCR_CKSREQ;
  wait_bits8(&SCICKCR, SCICKCR_CKSRDY, SCICKCR_CKSRDY);
  SCICKDIVCR = 0; /* /1 */
  SCICKCR = (uint8_t)((SCICKCR & ~SCICKCR_CKSEL_MASK) | SCICKCR_CKSEL_MOCO);
  SCICKCR &= (uint8_t)~SCICKCR_CKSREQ;
  wait_bits8(&SCICKCR, SCICKCR_CKSRDY, 0);
  PRCR = PRCR_KEY;
}

static void select_pins(void) {
#if BOARD_NUM_UART_SCI_PINS > 0
  PWPR = 0;
  PWPR = PWPR_PFSWE;
  PWPRS = 0;
  PWPRS = PWPR_PFSWE;
  for (uint32_t i = 0; i < BOARD_NUM_UART_SCI_PINS; i++) {
    volatile uint32_t *pfs = (volatile uint32_t *)(PFS_BASE + 0x40u * pins[i].port + 4u * pins[i].pin);
    *pfs = pins[i].psel << PFS_PSEL_SHIFT;           /* function first, as a GPIO ... */
    *pfs = (pins[i].psel << PFS_PSEL_SHIFT) | PFS_PMR; /* ... then hand the pin to it */
  }
  PWPRS = 0;
  PWPRS = PWPR_B0WI;
  PWPR = 0;
  PWPR = PWPR_B0WI;
#endif
}

void platform_uart_init(void) {
  start_module_and_clock();
  select_pins();
  SCI_CCR0 = 0;
  wait_bits(&SCI_CESR, CESR_RIST | CESR_TIST, 0);
  SCI_CCR1 = CCR1_SPB2DT;
  SCI_CCR2 = ((uint32_t)BOARD_UART_SCI_MDDR << 24) | ((uint32_t)BOARD_UART_SCI_CKS << 20) |
             ((uint32_t)BOARD_UART_SCI_BRME << 16) | ((uint32_t)BOARD_UART_SCI_BRR << 8) | CCR2_ABCS | CCR2_BGDM;
  SCI_CCR3 = CCR3_CHR_8BIT | CCR3_LSBF; /* asynchronous, 8 data bits, 1 stop bit, no parity */
  SCI_CCR4 = 0;
  SCI_CFCLR = CSR_ERRORS;
  SCI_CCR0 = CCR0_TE | CCR0_RE;
  wait_bits(&SCI_CESR, CESR_RIST | CESR_TIST, CESR_RIST | CESR_TIST);
}

void platform_write(const uint8_t *data, size_t n) {
  for (size_t i = 0; i < n; i++) {
    while (!(SCI_CSR & CSR_TDRE)) {
    }
    SCI_TDR = data[i];
  }
}

int platform_read_byte(void) {
  for (;;) {
    uint32_t s = SCI_CSR;
    if (s & CSR_RDRF) return (int)(SCI_RDR & 0xFFu);
    if (s & CSR_ERRORS) SCI_CFCLR = s & CSR_ERRORS; /* an overrun stalls the receiver; the host retries */
  }
}
