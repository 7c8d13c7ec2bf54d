/* Standalone host program around a generated library, for sanitizer builds (tests/robustness/test_sanitizers.py).
 *
 * Reads samples from stdin until EOF (each: every input's bytes, in input order), runs the model on each and
 * writes every output's bytes to stdout. Every buffer is a heap block of exactly the tensor's size, so
 * AddressSanitizer sees any access beyond a model input or output; the per-op hooks (sanitize_hooks.h)
 * poison the parts of the arena an op must not touch. */
#include <stdio.h>
#include <stdlib.h>

#include "model.h"

static int read_exact(void *buf, size_t n) {
  return fread(buf, 1, n, stdin) == n;
}

int main(void) {
  void *in[MODEL_NUM_INPUTS];
  void *out[MODEL_NUM_OUTPUTS];
  int i, samples = 0;
  for (i = 0; i < MODEL_NUM_INPUTS; i++) in[i] = malloc(model_input_bytes(i));
  for (i = 0; i < MODEL_NUM_OUTPUTS; i++) out[i] = malloc(model_output_bytes(i));
  for (;;) {
    for (i = 0; i < MODEL_NUM_INPUTS; i++) {
      if (!read_exact(in[i], model_input_bytes(i))) {
        if (i == 0 && feof(stdin)) goto done;
        fprintf(stderr, "short input in sample %d\n", samples);
        return 3;
      }
      if (model_set_input(i, in[i], model_input_bytes(i)) != 0) return 4;
    }
    if (model_invoke() != 0) return 5;
    for (i = 0; i < MODEL_NUM_OUTPUTS; i++) {
      if (model_get_output(i, out[i], model_output_bytes(i)) != 0) return 6;
      fwrite(out[i], 1, model_output_bytes(i), stdout);
    }
    samples++;
  }
done:
  for (i = 0; i < MODEL_NUM_INPUTS; i++) free(in[i]);
  for (i = 0; i < MODEL_NUM_OUTPUTS; i++) free(out[i]);
  fprintf(stderr, "%d samples\n", samples);
  return 0;
}
