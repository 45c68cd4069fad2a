/* The XS floor for SameRing::Selector: the same arguments as pick / pick_multi and the same way of
 * returning strings (a read-only scalar pushed as it is: a plain string for noop as for pick, a
 * shared string for noop_multi as for pick_multi), and no work. */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

static SV *plain_sv, *shared_sv;

MODULE = SameRingBench::Noop    PACKAGE = SameRingBench::Noop

PROTOTYPES: DISABLE

BOOT:
    plain_sv = newSVpvn("10.0.0.1:11211", 14);
    SvREADONLY_on(plain_sv);
    shared_sv = newSVpvn_share("10.0.0.1:11211", 14, 0);
    SvREADONLY_on(shared_sv);

void
noop(self, key)
    SV *self
    SV *key
  PPCODE:
    PERL_UNUSED_VAR(self);
    PERL_UNUSED_VAR(key);
    PUSHs(plain_sv);

void
noop_multi(self, ...)
    SV *self
  PREINIT:
    I32 n;
  PPCODE:
    PERL_UNUSED_VAR(self);
    for (n = 0; n < items - 1; ++n)
        ST(n) = shared_sv;
    XSRETURN(n);
