"""SI conventions. Specs carry units in field names (``_GBps``, ``_TFLOPS``, ``_us``); code
converts them to SI here, once, and works in bytes, seconds, flop and joules."""

GB = 1e9            # bytes in a (decimal) gigabyte, as vendors quote memory and bandwidth
GiB = 2**30
MiB = 2**20
TERA = 1e12
US = 1e-6           # seconds in a microsecond
J_PER_KWH = 3.6e6
S_PER_YEAR = 365.25 * 86400
BITS_PER_BYTE = 8
PJ = 1e-12

