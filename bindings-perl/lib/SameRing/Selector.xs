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
 *     interpreter; an ithreads clone gets its own copy through mg_dup;
 *   - mg_private: 0 for a local selector, which is all the hot path looks at (one branch); SR_REMOTE
 *     for a broker or shm selector.
 *
 * Broker and shm selectors (selector_new_from_broker, _broker_shm, _shm) have no server list here:
 * their ring changes with its generation, so a pick asks the C API for the index and the address of
 * the generation that answered in one call (selector_pick_server; selector_pick_many with
 * addresses for pick_multi) and returns a new string holding that address. Nothing is cached, so
 * nothing can be mapped through another generation's list. These handles own a connection or a
 * mapping that follows reloads, so the C API allows one thread at a time: an ithreads clone of one
 * is marked SR_FOREIGN and croaks when used.
 *
 * No function here starts a thread, opens a descriptor or keeps per-process state: a selector made
 * before fork() works in every child (a broker selector's C handle drops the inherited connection
 * and opens its own there).
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <samering/selector.h>

typedef struct {
    selector_t *sel;
    IV refcnt;          /* interpreters holding this handle (ithreads); guarded by OP_REFCNT_LOCK */
    int source;         /* SELECTOR_SOURCE_LOCAL, _BROKER or _SHM */
} sr_handle;

/* mg_private of our magic */
#define SR_REMOTE  0x1  /* a broker or shm selector: picks take the slow path */
#define SR_FOREIGN 0x2  /* ... seen from an ithreads clone of the interpreter that made it */

/* The broker/shm paths stay out of line, away from the local hot path. */
#if defined(__GNUC__)
#  define SR_COLD __attribute__((noinline, cold))
#else
#  define SR_COLD
#endif

/* What the typemap gives an XSUB for a SameRing::Selector argument: the object's magic. */
typedef MAGIC *SameRing__Selector;
#define SR_HANDLE(mg) ((sr_handle *) (mg)->mg_ptr)
#define SR_SEL(mg) (SR_HANDLE(mg)->sel)
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
    /* mg is the clone's copy: a broker/shm handle stays with the thread that made it */
    if (mg->mg_private & SR_REMOTE)
        mg->mg_private |= SR_FOREIGN;
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
        mg = SvMAGIC(SvRV(self));   /* ours is the first magic of the handle scalar */
        if (mg && mg->mg_virtual == &sr_vtbl && mg->mg_ptr)
            return mg;
        mg = mg_findext(SvRV(self), PERL_MAGIC_ext, &sr_vtbl);
        if (mg && mg->mg_ptr)
            return mg;
    }
    croak("SameRing::Selector: not a SameRing::Selector object");
    return NULL; /* not reached */
}

/* The AV of the 2n read-only server strings of a local selector described above. */
static AV *
sr_server_av(pTHX_ selector_t *sel, int n)
{
    AV *servers = newAV();
    int i;
    av_extend(servers, 2 * n - 1);
    for (i = 0; i < 2 * n; ++i) {
        const char *addr = selector_server(sel, i % n);
        SV *sv = i < n ? newSVpvn(addr, strlen(addr)) : newSVpvn_share(addr, (I32) strlen(addr), 0);
        SvREADONLY_on(sv);
        av_push(servers, sv);
    }
    return servers;
}

/* A broker/shm handle may only be used by the interpreter (thread) that made it. */
static SR_COLD void
sr_check_owner(pTHX_ MAGIC *mg)
{
    if (mg->mg_private & SR_FOREIGN)
        croak("SameRing::Selector: this %s selector belongs to the thread that made it "
              "(it owns a connection or a mapping); make one per thread",
              SR_HANDLE(mg)->source == SELECTOR_SOURCE_SHM ? "shm" : "broker");
}

/* Croaks with the handle's message for a failed broker/shm call. */
static SR_COLD void
sr_croak_remote(pTHX_ selector_t *sel, int rc)
{
    const char *msg = selector_last_error(sel);
    croak("SameRing::Selector: %s", msg && msg[0] ? msg : samering_strerror(rc));
}

/* A broker/shm pick: a new mortal string with the address of the server for the key, from the
 * generation that answered; undef for a key the flavor refuses. Croaks on a broker error. */
static SR_COLD SV *
sr_remote_pick(pTHX_ MAGIC *mg, const char *key, STRLEN len, int *index)
{
    const char *address = NULL;
    int i;
    sr_check_owner(aTHX_ mg);
    i = selector_pick_server(SR_SEL(mg), key, len, NULL, &address);
    if (index)
        *index = i;
    if (i == SAMERING_EKEY)
        return &PL_sv_undef;
    if (i < 0)
        sr_croak_remote(aTHX_ SR_SEL(mg), i);
    return sv_2mortal(newSVpvn(address, strlen(address)));
}

/* pick_multi on a broker/shm selector: the keys are ST(1) .. ST(count); each result goes to the
 * slot before its key (ST(n) for the key in ST(n + 1)). One selector_pick_many call (one PICK_MANY
 * round trip per batch on a broker): every address comes from the one generation that answered.
 * The caller keeps the object alive. */
#define SR_ARG(n) PL_stack_base[ax + (n)]    /* not a saved pointer: Perl code may move the stack */
static SR_COLD void
sr_remote_multi(pTHX_ I32 ax, I32 count, MAGIC *mg)
{
    const char **keys, **addresses;
    STRLEN *lens;
    int *out;
    I32 n;
    int rc;

    sr_check_owner(aTHX_ mg);
    /* Every key is made a plain string first, so that no Perl code (tie, overloading, a warning
     * handler for undef) runs once the first key's bytes are taken; each copy is mortal and
     * replaces its key on the stack. */
    for (n = 0; n < count; ++n) {
        SV *key = SR_ARG(n + 1);
        if (!SvPOK(key) || SvGMAGICAL(key) || SvROK(key)) {
            SV *copy = sv_newmortal();
            sv_copypv(copy, key);
            SR_ARG(n + 1) = copy;
        }
    }
    Newx(keys, count ? count : 1, const char *);
    SAVEFREEPV(keys);
    Newx(addresses, count ? count : 1, const char *);
    SAVEFREEPV(addresses);
    Newx(lens, count ? count : 1, STRLEN);
    SAVEFREEPV(lens);
    Newx(out, count ? count : 1, int);
    SAVEFREEPV(out);
    for (n = 0; n < count; ++n)
        keys[n] = SvPV_const(SR_ARG(n + 1), lens[n]);
    rc = selector_pick_many(SR_SEL(mg), keys, (const size_t *) lens, (size_t) count, out, addresses, NULL);
    if (rc < 0)
        sr_croak_remote(aTHX_ SR_SEL(mg), rc);
    for (n = 0; n < count; ++n)
        SR_ARG(n) = addresses[n] ? sv_2mortal(newSVpvn(addresses[n], strlen(addresses[n]))) : &PL_sv_undef;
}

/* Wrap a new selector in a blessed object (a local one with its server strings in mg_obj). */
static SV *
sr_wrap(pTHX_ const char *class, selector_t *sel)
{
    sr_handle *h;
    AV *servers;
    SV *obj, *inner;
    MAGIC *mg;
    int source = selector_source(sel);

    servers = source == SELECTOR_SOURCE_LOCAL ? sr_server_av(aTHX_ sel, selector_server_count(sel)) : newAV();
    Newx(h, 1, sr_handle);
    h->sel = sel;
    h->refcnt = 1;
    h->source = source;

    obj = newSV(0);
    inner = newSVrv(obj, class);
    sv_setiv(inner, PTR2IV(h));
    mg = sv_magicext(inner, (SV *) servers, PERL_MAGIC_ext, &sr_vtbl, (const char *) h, 0);
    SvREFCNT_dec((SV *) servers);   /* sv_magicext took its own reference */
    mg->mg_private = source == SELECTOR_SOURCE_LOCAL ? 0 : SR_REMOTE;
#ifdef USE_ITHREADS
    mg->mg_flags |= MGf_DUP;
#endif
    SvREADONLY_on(inner);
    return obj;
}

/* Build from the C constructor's result: returns (obj, undef) or (undef, message). The .pm croaks
 * with the message through Carp so that the error names the caller's line. */
#define SR_RETURN_NEW(rc, sel, err)                                          \
    STMT_START {                                                             \
        SV *obj_ = (rc) == SAMERING_OK ? sr_wrap(aTHX_ class, (sel)) : NULL; \
        EXTEND(SP, 2);                                                       \
        if (obj_) {                                                          \
            PUSHs(sv_2mortal(obj_));                                         \
            PUSHs(&PL_sv_undef);                                             \
        } else {                                                             \
            PUSHs(&PL_sv_undef);                                             \
            PUSHs(sv_2mortal(newSVpv((err)[0] ? (err) : samering_strerror(rc), 0))); \
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
_new_from_broker(class, path, ring, timeout_ms, shm)
    const char *class
    const char *path
    const char *ring
    int timeout_ms
    int shm
  PREINIT:
    selector_t *sel = NULL;
    char err[512];
    int rc;
  PPCODE:
    rc = shm ? selector_new_from_broker_shm(path, ring, timeout_ms, &sel, err, sizeof err)
             : selector_new_from_broker(path, ring, timeout_ms, &sel, err, sizeof err);
    SR_RETURN_NEW(rc, sel, err);

void
_new_from_shm(class, dir, ring, owner_uid)
    const char *class
    const char *dir
    const char *ring
    IV owner_uid
  PREINIT:
    selector_t *sel = NULL;
    char err[512];
    int rc;
  PPCODE:
    rc = selector_new_from_shm_owned_by(dir, ring, (int64_t) owner_uid, &sel, err, sizeof err);
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
    if (UNLIKELY(mg->mg_private)) {
        PUSHs(sr_remote_pick(aTHX_ mg, k, len, NULL));   /* broker/shm: the answering generation's */
        XSRETURN(1);
    }
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
    MAGIC *mg;
    int i;
  PPCODE:
    k = SvPV_const(key, len);
    mg = sr_magic(aTHX_ self);
    if (UNLIKELY(mg->mg_private))
        (void) sr_remote_pick(aTHX_ mg, k, len, &i);
    else
        i = selector_pick(SR_SEL(mg), k, len);
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
    selector_t *sel;
    SV **servers;
    I32 n;
    SV *handle;
    int guarded = 0;
  PPCODE:
    handle = SvRV(ST(0));    /* ST(0) is overwritten by the first result */
    if (UNLIKELY(self->mg_private)) {
        /* broker/shm: a round trip (or a generation check) per call dwarfs a mortal reference */
        sv_2mortal(SvREFCNT_inc_simple_NN(handle));
        sr_remote_multi(aTHX_ ax, items - 1, self);
        XSRETURN(items - 1);
    }
    /* One call for many keys: each result overwrites the stack slot before it (the key in slot
     * n + 1 has been read by then), so the stack needs no extension. */
    sel = SR_SEL(self);
    servers = AvARRAY(SR_SERVERS(self)) + SR_COUNT(self);    /* the shared strings */
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
    SSize_t i, n;
  PPCODE:
    if (self->mg_private) {
        /* broker/shm: the list of the newest generation the handle has seen */
        int count;
        sr_check_owner(aTHX_ self);
        count = selector_server_count(SR_SEL(self));
        if (count < 0)
            sr_croak_remote(aTHX_ SR_SEL(self), count);
        n = count;
        if (GIMME_V != G_ARRAY) {
            mXPUSHi((IV) n);
            XSRETURN(1);
        }
        EXTEND(SP, n);
        for (i = 0; i < n; ++i) {
            /* the strings stay valid until the next call on the handle: copy each at once */
            const char *address = selector_server(SR_SEL(self), (int) i);
            if (!address)
                sr_croak_remote(aTHX_ SR_SEL(self), SAMERING_EBROKER);
            mPUSHs(newSVpv(address, 0));
        }
        XSRETURN(n);
    }
    n = SR_COUNT(self);
    if (GIMME_V != G_ARRAY) {
        mXPUSHi((IV) n);
        XSRETURN(1);
    }
    EXTEND(SP, n);
    for (i = 0; i < n; ++i)
        mPUSHs(newSVsv(AvARRAY(SR_SERVERS(self))[i]));

const char *
flavor(self)
    SameRing::Selector self
  CODE:
    if (self->mg_private)
        sr_check_owner(aTHX_ self);
    RETVAL = selector_flavor(SR_SEL(self));
    if (!RETVAL)
        sr_croak_remote(aTHX_ SR_SEL(self), SAMERING_EBROKER);
  OUTPUT:
    RETVAL

UV
generation(self)
    SameRing::Selector self
  CODE:
    /* 0 for a local selector; the broker's generation of the ring otherwise */
    if (self->mg_private)
        sr_check_owner(aTHX_ self);
    RETVAL = (UV) selector_generation(SR_SEL(self));
  OUTPUT:
    RETVAL

const char *
source(self)
    SameRing::Selector self
  CODE:
    switch (SR_HANDLE(self)->source) {
    case SELECTOR_SOURCE_BROKER: RETVAL = "broker"; break;
    case SELECTOR_SOURCE_SHM:    RETVAL = "shm";    break;
    default:                     RETVAL = "local";  break;
    }
  OUTPUT:
    RETVAL
