/*
 * SameRing::Selector — thin XS over the samering C API (samering/selector.h).
 *
 * The object is a blessed reference to a scalar that holds the handle pointer (T_PTROBJ style).
 * The handle is also attached to that scalar as ext magic, which is what the typemap checks: a
 * scalar without our magic is not accepted, so a forged object cannot hand us a wild pointer.
 * The magic carries
 *   - mg_ptr: the shared handle (selector + refcount), freed by the magic's free hook when the
 *     last interpreter that holds it lets go (svt_dup counts ithreads clones);
 *   - mg_obj: an AV with two read-only scalars per server holding its "host:port", which pick
 *     and pick_multi return themselves (no SV is made per key). Elements 0..n-1 are plain strings,
 *     for pick: `$s = $ring->pick($k)` copies 10-20 bytes into $s's existing buffer. Elements
 *     n..2n-1 are shared strings (a shared hash key), for pick_multi: a list assignment makes a
 *     new scalar per element, which then shares the string instead of allocating a buffer
 *     (measured in bench/perl: each form is the faster one for its method). The AV belongs to the
 *     interpreter; an ithreads clone gets its own copy through mg_dup.
 *
 * No function here starts a thread, opens a descriptor or keeps per-process state: a selector made
 * before fork() works unchanged in every child.
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <samering/selector.h>

typedef struct {
    selector_t *sel;
    IV refcnt;          /* interpreters holding this handle (ithreads); guarded by OP_REFCNT_LOCK */
} sr_handle;

/* What the typemap gives an XSUB for a SameRing::Selector argument: the object's magic. */
typedef MAGIC *SameRing__Selector;
#define SR_SEL(mg) (((sr_handle *) (mg)->mg_ptr)->sel)
#define SR_SERVERS(mg) ((AV *) (mg)->mg_obj)
#define SR_COUNT(mg) ((AvFILLp(SR_SERVERS(mg)) + 1) / 2)

static int sr_mg_free(pTHX_ SV *sv, MAGIC *mg);
#ifdef USE_ITHREADS
static int sr_mg_dup(pTHX_ MAGIC *mg, CLONE_PARAMS *param);
#else
#define sr_mg_dup NULL
#endif

static MGVTBL sr_vtbl = {
    NULL, NULL, NULL, NULL, /* get, set, len, clear */
    sr_mg_free,
    NULL,                   /* copy */
    sr_mg_dup,
    NULL                    /* local */
};

static int
sr_mg_free(pTHX_ SV *sv, MAGIC *mg)
{
    sr_handle *h = (sr_handle *) mg->mg_ptr;
    IV left;
    PERL_UNUSED_ARG(sv);
    if (!h)
        return 0;
    mg->mg_ptr = NULL;
    OP_REFCNT_LOCK;
    left = --h->refcnt;
    OP_REFCNT_UNLOCK;
    if (left == 0) {
        selector_free(h->sel);
        Safefree(h);
    }
    return 0;
}

#ifdef USE_ITHREADS
static int
sr_mg_dup(pTHX_ MAGIC *mg, CLONE_PARAMS *param)
{
    sr_handle *h = (sr_handle *) mg->mg_ptr;
    PERL_UNUSED_ARG(param);
    if (h) {
        OP_REFCNT_LOCK;
        ++h->refcnt;
        OP_REFCNT_UNLOCK;
    }
    return 0;
}
#endif

/* The magic of a SameRing::Selector object, or a croak. Hot path: a few pointer chases, no
 * class-name lookup (a subclass works; a scalar without our magic does not). */
static inline MAGIC *
sr_magic(pTHX_ SV *self)
{
    MAGIC *mg;
    if (SvROK(self) && SvTYPE(SvRV(self)) >= SVt_PVMG) {
        mg = SvMAGIC(SvRV(self));   /* ours is the first (and only) magic of the handle scalar */
        if (mg && mg->mg_virtual == &sr_vtbl && mg->mg_ptr)
            return mg;
        mg = mg_findext(SvRV(self), PERL_MAGIC_ext, &sr_vtbl);
        if (mg && mg->mg_ptr)
            return mg;
    }
    croak("SameRing::Selector: not a SameRing::Selector object");
    return NULL; /* not reached */
}

/* Wrap a new selector in a blessed object: ($obj) on success. */
static SV *
sr_wrap(pTHX_ const char *class, selector_t *sel)
{
    sr_handle *h;
    AV *servers;
    SV *obj, *inner;
    MAGIC *mg;
    int i, n = selector_server_count(sel);

    Newx(h, 1, sr_handle);
    h->sel = sel;
    h->refcnt = 1;

    servers = newAV();
    av_extend(servers, 2 * n - 1);
    for (i = 0; i < 2 * n; ++i) {
        const char *addr = selector_server(sel, i % n);
        SV *sv = i < n ? newSVpvn(addr, strlen(addr)) : newSVpvn_share(addr, (I32) strlen(addr), 0);
        SvREADONLY_on(sv);
        av_push(servers, sv);
    }

    obj = newSV(0);
    inner = newSVrv(obj, class);
    sv_setiv(inner, PTR2IV(h));
    mg = sv_magicext(inner, (SV *) servers, PERL_MAGIC_ext, &sr_vtbl, (const char *) h, 0);
    SvREFCNT_dec((SV *) servers);   /* sv_magicext took its own reference */
#ifdef USE_ITHREADS
    mg->mg_flags |= MGf_DUP;
#else
    PERL_UNUSED_VAR(mg);
#endif
    SvREADONLY_on(inner);
    return obj;
}

/* Build from the C constructor's result: returns (obj, undef) or (undef, message). The .pm croaks
 * with the message through Carp so that the error names the caller's line. */
#define SR_RETURN_NEW(rc, sel, err)                                          \
    STMT_START {                                                             \
        EXTEND(SP, 2);                                                       \
        if ((rc) == SELECTOR_OK) {                                           \
            PUSHs(sv_2mortal(sr_wrap(aTHX_ class, (sel))));                  \
            PUSHs(&PL_sv_undef);                                             \
        } else {                                                             \
            PUSHs(&PL_sv_undef);                                             \
            PUSHs(sv_2mortal(newSVpv((err)[0] ? (err) : selector_strerror(rc), 0))); \
        }                                                                    \
    } STMT_END

MODULE = SameRing::Selector    PACKAGE = SameRing::Selector

PROTOTYPES: DISABLE

void
_new_from_json(class, json)
    const char *class
    SV *json
  PREINIT:
    selector_t *sel = NULL;
    char err[512];
    STRLEN len;
    const char *text;
    int rc;
  PPCODE:
    /* the JSON text as bytes; a character string is encoded to UTF-8 (on a copy) */
    if (SvUTF8(json)) {
        SV *copy = sv_2mortal(newSVsv(json));
        text = SvPVutf8(copy, len);
    } else {
        text = SvPV(json, len);
    }
    rc = selector_new_from_json(text, len, &sel, err, sizeof err);
    SR_RETURN_NEW(rc, sel, err);

void
_new_from_file(class, path)
    const char *class
    const char *path
  PREINIT:
    selector_t *sel = NULL;
    char err[512];
    int rc;
  PPCODE:
    rc = selector_new_from_file(path, &sel, err, sizeof err);
    SR_RETURN_NEW(rc, sel, err);

void
pick(self, key)
    SV *self
    SV *key
  PREINIT:
    STRLEN len;
    const char *k;
    MAGIC *mg;
    int i;
  PPCODE:
    /* SvPV: the key's bytes as stored — for a string with the UTF-8 flag that is its UTF-8
     * encoding, which is what Cache::Memcached::Fast sends and hashes. Nothing is downgraded.
     * The key is read before the object is looked at: reading it may run Perl code (tie,
     * overloading), which could even free the object. */
    k = SvPV_const(key, len);
    mg = sr_magic(aTHX_ self);
    i = selector_pick(SR_SEL(mg), k, len);
    /* the server's read-only string itself (see mg_obj above) */
    PUSHs(i >= 0 ? AvARRAY(SR_SERVERS(mg))[i] : &PL_sv_undef);

void
pick_index(self, key)
    SV *self
    SV *key
  PREINIT:
    STRLEN len;
    const char *k;
    int i;
  PPCODE:
    k = SvPV_const(key, len);
    i = selector_pick(SR_SEL(sr_magic(aTHX_ self)), k, len);
    if (i >= 0) {
        dXSTARG;
        PUSHi((IV) i);
    } else {
        PUSHs(&PL_sv_undef);
    }

void
pick_multi(self, ...)
    SameRing::Selector self
  PREINIT:
    const selector_t *sel;
    SV **servers;
    I32 n;
    SV *handle;
    int guarded = 0;
  PPCODE:
    /* One call for many keys: each result overwrites the stack slot before it (the key in slot
     * n + 1 has been read by then), so the stack needs no extension. */
    sel = SR_SEL(self);
    servers = AvARRAY(SR_SERVERS(self)) + SR_COUNT(self);    /* the shared strings */
    handle = SvRV(ST(0));    /* ST(0) is overwritten by the first result */
    for (n = 0; n < items - 1; ++n) {
        SV *key = ST(n + 1);
        STRLEN len;
        const char *k;
        int i;
        if (!guarded && (SvGMAGICAL(key) || SvROK(key))) {
            /* reading this key may run Perl code that drops the last reference to the object:
             * keep the handle scalar (and the returned strings it owns) alive until the caller's
             * statement is over */
            sv_2mortal(SvREFCNT_inc_simple_NN(handle));
            guarded = 1;
        }
        k = SvPV_const(key, len);
        i = selector_pick(sel, k, len);
        ST(n) = i >= 0 ? servers[i] : &PL_sv_undef;
    }
    XSRETURN(n);

void
servers(self)
    SameRing::Selector self
  PREINIT:
    AV *servers;
    SSize_t i, n;
  PPCODE:
    servers = SR_SERVERS(self);
    n = SR_COUNT(self);
    if (GIMME_V != G_ARRAY) {
        mXPUSHi((IV) n);
        XSRETURN(1);
    }
    EXTEND(SP, n);
    for (i = 0; i < n; ++i)
        mPUSHs(newSVsv(AvARRAY(servers)[i]));

const char *
flavor(self)
    SameRing::Selector self
  CODE:
    RETVAL = selector_flavor(SR_SEL(self));
  OUTPUT:
    RETVAL
