/*
 * Cache::Memcached::SameRing — Cache::Memcached::Fast 0.28's methods over the samering memcached
 * client (samering/client.h), linked statically.
 *
 * Keys are routed by the client's ring, flavor cmf built from the constructor's servers,
 * ketama_points, namespace and hash_namespace: the node CMF itself picks. Values are stored the
 * way CMF stores them (its Fast.xs): the flag bits below, serialization of references, compression
 * over compress_threshold, UTF-8 encoding with utf8 => 1; so either module reads what the other
 * wrote. All I/O happens inside the C client; this file turns Perl values into bytes and flags and
 * back, and CMF's calling conventions (void context, list / scalar context of the _multi calls)
 * into client calls.
 *
 * The object is CMF's: a blessed reference to a scalar holding the address of an sr_memd (so
 * that the .pm's CLONE can give each ithread its own, as CMF's does). User Perl code (serialize /
 * compress methods, tie FETCH, overloading) never runs while the C client is inside a call: the
 * multi-get callback only copies values (into the result hash, or aside for decompressing and
 * thawing after the client returned), so a die in Perl code cannot unwind through C++ frames.
 *
 * Fork: nothing to do here. The client notices it is in a forked child and drops the parent's
 * connections without writing to them (DESIGN.md "Fork safety").
 */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include <string.h>

#include <samering/client.h>

/* Cache::Memcached::Fast 0.28 Fast.xs: the flag bits of a stored value. */
#define F_STORABLE 0x1
#define F_COMPRESS 0x2
#define F_UTF8 0x4

/* CMF's max_size default (Fast.xs parse_config). */
#define DEFAULT_MAX_SIZE (1024 * 1024)

typedef struct {
    client_t *c;                /* NULL when the server list is empty (CMF accepts that) */
    AV *servers;                /* the addresses as given, by server index: result hash keys */
    unsigned char *noreply;     /* per server: { noreply => 1 } */
    int server_count;
    int any_noreply;
    int nowait;
    int utf8;
    IV compress_threshold;      /* <= 0: off; enable_compress flips the sign, as CMF does */
    NV compress_ratio;
    SV *compress_method;
    SV *decompress_method;
    SV *serialize_method;
    SV *deserialize_method;
    UV max_size;
    SV *ns;                     /* the namespace while there is no client */
    int ready;                  /* construction finished (memd_abandon leaves it alone) */
} sr_memd;

typedef sr_memd *Cache_Memcached_SameRing;

/* ---- constructor ------------------------------------------------------------------------------ */

/* The value of conf->{name} after get magic, or NULL when it is missing or undef. */
static SV *
conf_value(pTHX_ HV *conf, const char *name)
{
    SV **p = hv_fetch(conf, name, (I32) strlen(name), 0);
    if (!p)
        return NULL;
    SvGETMAGIC(*p);
    return SvOK(*p) ? *p : NULL;
}

/* conf->{name} as a flag: SvTRUE of whatever is there (CMF reads flags without SvOK). */
static int
conf_flag(pTHX_ HV *conf, const char *name)
{
    SV **p = hv_fetch(conf, name, (I32) strlen(name), 0);
    return p ? SvTRUE(*p) : 0;
}

/* Element i of a method pair [ \&encode, \&decode ]; croaks like CMF's safe_av_fetch. */
static SV *
method_of(pTHX_ SV *pair, I32 i)
{
    SV **p;
    if (!SvROK(pair) || SvTYPE(SvRV(pair)) != SVt_PVAV)
        croak("Not an array reference");
    p = av_fetch((AV *) SvRV(pair), i, 0);
    if (p)
        SvGETMAGIC(*p);
    if (!p || !SvOK(*p))
        croak("undefined value passed to av_fetch");
    return newSVsv(*p);
}

/* One element of servers => [...], checked as Fast.xs parse_server does (same messages), pushed
 * onto `list` as { address => ..., weight => ... } for the ring spec. */
static void
parse_server(pTHX_ SV *sv, AV *list, AV *addresses, AV *noreply)
{
    SV *address;
    NV weight = 1.0;
    int no_reply = 0;
    HV *server;

    if (!SvROK(sv)) {
        address = sv;
    } else if (SvTYPE(SvRV(sv)) == SVt_PVHV) {
        HV *hv = (HV *) SvRV(sv);
        SV **p = hv_fetchs(hv, "address", 0);
        if (!p)
            croak("server should have { address => $addr }");
        SvGETMAGIC(*p);
        address = *p;
        p = hv_fetchs(hv, "weight", 0);
        if (p) {
            SvGETMAGIC(*p);
            if (SvOK(*p))
                weight = SvNV_nomg(*p);
        }
        p = hv_fetchs(hv, "noreply", 0);
        if (p)
            no_reply = SvTRUE(*p);
    } else if (SvTYPE(SvRV(sv)) == SVt_PVAV) {
        AV *av = (AV *) SvRV(sv);
        SV **p = av_fetch(av, 0, 0);
        if (!p)
            croak("server should be [$addr, $weight]");
        SvGETMAGIC(*p);
        address = *p;
        p = av_fetch(av, 1, 0);
        if (p)
            weight = SvNV(*p);  /* undef is 0 here too: "should be positive" */
    } else {
        croak("Not a hash or array reference");
    }
    if (!(weight > 0.0))
        croak("Server weight should be positive");

    address = newSVsv_nomg(address);
    av_push(addresses, SvREFCNT_inc_simple_NN(address));
    av_push(noreply, newSViv(no_reply));
    server = newHV();
    (void) hv_stores(server, "address", address);
    (void) hv_stores(server, "weight", newSVnv(weight));
    av_push(list, newRV_noinc((SV *) server));
}

/* The ring spec JSON for the constructor's arguments: SameRing::Selector::_spec_json, the same
 * code that builds SameRing::Selector->new(flavor => 'cmf', ...). Returns a mortal. */
static SV *
spec_json(pTHX_ AV *list, SV *ketama_points, int hash_namespace, SV *ns)
{
    dSP;
    HV *args = newHV();
    SV *json;
    int count;
    (void) hv_stores(args, "flavor", newSVpvs("cmf"));
    (void) hv_stores(args, "servers", newRV_inc((SV *) list));
    if (ketama_points)
        (void) hv_stores(args, "ketama_points", newSViv(SvIV(ketama_points)));
    if (hash_namespace)
        (void) hv_stores(args, "hash_namespace", newSViv(1));
    if (ns)
        (void) hv_stores(args, "namespace", newSVsv(ns));
    ENTER;
    SAVETMPS;
    PUSHMARK(SP);
    mXPUSHs(newRV_noinc((SV *) args));
    PUTBACK;
    count = call_pv("SameRing::Selector::_spec_json", G_SCALAR);
    SPAGAIN;
    if (count != 1)
        croak("SameRing::Selector::_spec_json returned nothing");
    json = newSVsv(POPs);
    PUTBACK;
    FREETMPS;
    LEAVE;
    return sv_2mortal(json);
}

/* Seconds (CMF takes fractions) as whole milliseconds; 0 = no timeout, as in CMF. */
static int64_t
milliseconds(NV seconds)
{
    NV ms;
    if (!(seconds > 0))
        return 0;
    ms = seconds * 1000.0 + 0.5;
    if (ms < 1)
        return 1;
    return ms > 2147483647.0 ? 2147483647 : (int64_t) ms;
}

static void
set_option(pTHX_ client_t *c, int option, int64_t value)
{
    if (client_set_option(c, option, value) != SAMERING_OK)
        croak("Cache::Memcached::SameRing: %s", client_last_error(c));
}

static void
memd_free(pTHX_ sr_memd *m)
{
    if (m->c) {
        /* CMF's destructor waits for its nowait replies: here, until every noreply command was
         * processed (nothing when there were none; never in a forked child, which owns no
         * connection of the parent) */
        client_sync(m->c);
        client_free(m->c);
    }
    SvREFCNT_dec(m->servers);
    SvREFCNT_dec(m->compress_method);
    SvREFCNT_dec(m->decompress_method);
    SvREFCNT_dec(m->serialize_method);
    SvREFCNT_dec(m->deserialize_method);
    SvREFCNT_dec(m->ns);
    Safefree(m->noreply);
    Safefree(m);
}

/* Savestack hook of the constructor: frees a half-built object when an argument croaks. */
static void
memd_abandon(pTHX_ void *p)
{
    sr_memd *m = (sr_memd *) p;
    if (!m->ready)
        memd_free(aTHX_ m);
}

static sr_memd *
memd_new(pTHX_ HV *conf)
{
    sr_memd *m;
    AV *list = (AV *) sv_2mortal((SV *) newAV());
    AV *noreply = (AV *) sv_2mortal((SV *) newAV());
    SV *ketama_points, *servers, *ns, *v;
    int hash_namespace, i, n;
    IV max_failures = 0, failure_timeout = 10;

    Newxz(m, 1, sr_memd);
    ENTER;
    SAVEDESTRUCTOR_X(memd_abandon, m);
    m->servers = newAV();
    m->compress_threshold = -1;
    m->compress_ratio = 0.8;
    m->max_size = DEFAULT_MAX_SIZE;

    /* In Fast.xs parse_config's order, so that the first bad argument is the one reported. */
    ketama_points = conf_value(aTHX_ conf, "ketama_points");
    hash_namespace = conf_flag(aTHX_ conf, "hash_namespace");
    servers = conf_value(aTHX_ conf, "servers");
    if (servers) {
        AV *av;
        if (!SvROK(servers) || SvTYPE(SvRV(servers)) != SVt_PVAV)
            croak("Not an array reference");
        av = (AV *) SvRV(servers);
        n = (int) av_len(av);
        for (i = 0; i <= n; ++i) {
            SV **p = av_fetch(av, i, 0);
            if (!p)
                continue;
            SvGETMAGIC(*p);
            parse_server(aTHX_ *p, list, m->servers, noreply);
        }
    }
    ns = conf_value(aTHX_ conf, "namespace");
    m->ns = ns ? newSVsv(ns) : newSVpvs("");

    m->server_count = (int) (AvFILLp(m->servers) + 1);
    if (m->server_count > 0) {
        char err[512];
        STRLEN len;
        const char *json = SvPV_const(spec_json(aTHX_ list, ketama_points, hash_namespace, ns), len);
        if (client_new_from_json(json, len, &m->c, err, sizeof err) != SAMERING_OK)
            croak("Cache::Memcached::SameRing: %s", err);
        Newxz(m->noreply, m->server_count, unsigned char);
        for (i = 0; i < m->server_count; ++i) {
            m->noreply[i] = (unsigned char) SvIV(AvARRAY(noreply)[i]);
            m->any_noreply |= m->noreply[i];
        }
        /* CMF's defaults are the client's (connect 0.25 s, io 1 s) */
        if ((v = conf_value(aTHX_ conf, "connect_timeout")))
            set_option(aTHX_ m->c, CLIENT_OPT_CONNECT_TIMEOUT_MS, milliseconds(SvNV(v)));
        if ((v = conf_value(aTHX_ conf, "io_timeout")))
            set_option(aTHX_ m->c, CLIENT_OPT_IO_TIMEOUT_MS, milliseconds(SvNV(v)));
        if ((v = conf_value(aTHX_ conf, "select_timeout")))  /* Cache::Memcached's name for it */
            set_option(aTHX_ m->c, CLIENT_OPT_IO_TIMEOUT_MS, milliseconds(SvNV(v)));
        /* CMF: after max_failures failures within failure_timeout seconds a server is left alone
         * for failure_timeout seconds; max_failures 0 (its default) never leaves one alone. */
        if ((v = conf_value(aTHX_ conf, "max_failures")))
            max_failures = SvIV(v);
        if ((v = conf_value(aTHX_ conf, "failure_timeout")))
            failure_timeout = SvIV(v);
        if (max_failures > 0 && failure_timeout > 0) {
            set_option(aTHX_ m->c, CLIENT_OPT_RETRY_TIMEOUT_MS, (int64_t) failure_timeout * 1000);
            set_option(aTHX_ m->c, CLIENT_OPT_MAX_FAILURES, max_failures);
        } else {
            set_option(aTHX_ m->c, CLIENT_OPT_RETRY_TIMEOUT_MS, 0);
        }
    }
    /* close_on_error is accepted and has nothing to switch: libmemcached parses every reply and
     * closes a connection whose reply it cannot parse. */
    m->nowait = conf_flag(aTHX_ conf, "nowait");
    if ((v = conf_value(aTHX_ conf, "max_size")))
        m->max_size = SvUV(v);

    /* Fast.xs parse_compress */
    if ((v = conf_value(aTHX_ conf, "compress_threshold")))
        m->compress_threshold = SvIV(v);
    if ((v = conf_value(aTHX_ conf, "compress_ratio")))
        m->compress_ratio = SvNV(v);
    if ((v = conf_value(aTHX_ conf, "compress_methods"))) {
        m->compress_method = method_of(aTHX_ v, 0);
        m->decompress_method = method_of(aTHX_ v, 1);
    } else if (m->compress_threshold > 0) {
        warn("Compression module was not found, disabling compression");
        m->compress_threshold = -1;
    }
    /* Fast.xs parse_serialize */
    m->utf8 = conf_flag(aTHX_ conf, "utf8");
    if (!(v = conf_value(aTHX_ conf, "serialize_methods")))
        croak("Serialize method is not specified");
    m->serialize_method = method_of(aTHX_ v, 0);
    m->deserialize_method = method_of(aTHX_ v, 1);

    m->ready = 1;
    LEAVE;
    return m;
}

/* ---- values: CMF's encoding --------------------------------------------------------------- */

/* The bytes to store for `sv` and their flags (Fast.xs serialize() then compress()): a reference
 * is serialized (F_STORABLE); a character string is UTF-8 encoded with utf8 => 1 (F_UTF8), else
 * downgraded (croaking "Wide character" as CMF does); a value of at least compress_threshold
 * bytes is compressed when that saves enough (F_COMPRESS). The result may be `sv` itself or a
 * mortal; its PV is the bytes. */
static SV *
encode_value(pTHX_ sr_memd *m, SV *sv, U32 *flags)
{
    if (SvGMAGICAL(sv))
        sv = sv_2mortal(newSVsv(sv));   /* one FETCH, then stable bytes */
    if (SvROK(sv)) {
        dSP;
        int count;
        PUSHMARK(SP);
        XPUSHs(sv);
        PUTBACK;
        count = call_sv(m->serialize_method, G_SCALAR);
        SPAGAIN;
        if (count != 1)
            croak("Serialize method returned nothing");
        sv = POPs;
        PUTBACK;
        if (SvGMAGICAL(sv) || SvROK(sv))
            sv = sv_2mortal(newSVsv(sv));
        *flags |= F_STORABLE;
    } else if (SvUTF8(sv)) {
        sv = sv_2mortal(newSVsv(sv));
        if (m->utf8) {
            sv_utf8_encode(sv);
            *flags |= F_UTF8;
        } else {
            sv_utf8_downgrade(sv, FALSE);
        }
    }
    if (m->compress_threshold > 0) {
        STRLEN len;
        (void) SvPV_const(sv, len);
        if (len >= (STRLEN) m->compress_threshold) {
            dSP;
            SV *csv = sv_2mortal(newSV(0));
            int count, ok;
            PUSHMARK(SP);
            mXPUSHs(newRV_inc(sv));
            mXPUSHs(newRV_inc(csv));
            PUTBACK;
            count = call_sv(m->compress_method, G_SCALAR);
            SPAGAIN;
            if (count != 1)
                croak("Compress method returned nothing");
            ok = SvTRUE(POPs);
            PUTBACK;
            if (ok && SvOK(csv) && (NV) sv_len(csv) <= (NV) len * m->compress_ratio) {
                sv = csv;
                *flags |= F_COMPRESS;
            }
        }
    }
    return sv;
}

/* The Perl value of stored bytes (a mortal `sv`) with their flags (Fast.xs decompress() then
 * deserialize()), or NULL when they cannot be decoded: CMF then answers as for a miss. */
static SV *
decode_value(pTHX_ sr_memd *m, SV *sv, U32 flags)
{
    if (flags & F_COMPRESS) {
        dSP;
        SV *rsv = sv_2mortal(newSV(0));
        int count, ok;
        PUSHMARK(SP);
        mXPUSHs(newRV_inc(sv));
        mXPUSHs(newRV_inc(rsv));
        PUTBACK;
        count = call_sv(m->decompress_method, G_SCALAR);
        SPAGAIN;
        if (count != 1)
            croak("Decompress method returned nothing");
        ok = SvTRUE(POPs);
        PUTBACK;
        if (!ok)
            return NULL;
        sv = rsv;
    }
    if (flags & F_STORABLE) {
        dSP;
        SV *rsv;
        int count;
        PUSHMARK(SP);
        XPUSHs(sv);
        PUTBACK;
        count = call_sv(m->deserialize_method, G_SCALAR | G_EVAL);
        SPAGAIN;
        if (count != 1)
            croak("Deserialize method returned nothing");
        rsv = POPs;
        PUTBACK;
        if (SvTRUE(ERRSV))
            return NULL;
        return sv_2mortal(newSVsv(rsv));
    }
    if ((flags & F_UTF8) && m->utf8 && !sv_utf8_decode(sv))
        return NULL;
    return sv;
}

/* ---- small helpers ------------------------------------------------------------------------------ */

/* A key's bytes as Perl stores them (the UTF-8 encoding for a string with the UTF-8 flag, which
 * is what CMF sends). A magical key is read once into a mortal copy, so the bytes stay put while
 * other arguments are read (Fast.xs SvPV_stable_storage). *key_sv is the scalar to use as the
 * result hash key. */
static const char *
key_bytes(pTHX_ SV *sv, STRLEN *len, SV **key_sv)
{
    if (SvGAMAGIC(sv))
        sv = sv_2mortal(newSVsv(sv));
    if (key_sv)
        *key_sv = sv;
    return SvPV_const(sv, *len);
}

/* A defined optional argument as an IV/UV after get magic, else `dflt`. */
static IV
opt_iv(pTHX_ SV *sv, IV dflt)
{
    if (!sv)
        return dflt;
    SvGETMAGIC(sv);
    return SvOK(sv) ? SvIV_nomg(sv) : dflt;
}

static UV
opt_uv(pTHX_ SV *sv, UV dflt)
{
    if (!sv)
        return dflt;
    SvGETMAGIC(sv);
    return SvOK(sv) ? SvUV_nomg(sv) : dflt;
}

/* CLIENT_NOREPLY when a command on `key` is sent without waiting: only in void context, then in
 * nowait mode or for a server given with noreply => 1 (CMF's rules). */
static int
noreply_for(pTHX_ const sr_memd *m, I32 gimme, const char *key, STRLEN len)
{
    int i;
    if (gimme != G_VOID)
        return 0;
    if (m->nowait)
        return CLIENT_NOREPLY;
    if (!m->any_noreply)
        return 0;
    i = client_pick(m->c, key, len);
    return i >= 0 && m->noreply[i] ? CLIENT_NOREPLY : 0;
}

/* CMF's answer for a command that stores, deletes or touches: 1, "" for a negative reply, NULL
 * (undef / nothing) for an error. Mortal. */
static SV *
answer(pTHX_ int rc)
{
    if (rc == SAMERING_OK)
        return sv_2mortal(newSViv(1));
    if (rc > 0)
        return sv_2mortal(newSVpvs(""));
    return NULL;
}

/* CMF's answer for incr/decr: the new value as digits ("0E0" for zero: true, and 0 as a number),
 * "" when the key is missing, NULL for an error. */
static SV *
arith_answer(pTHX_ int rc, uint64_t value)
{
    if (rc == SAMERING_OK)
        return value ? sv_2mortal(newSVpvf("%" UVuf, (UV) value)) : sv_2mortal(newSVpvs("0E0"));
    if (rc > 0)
        return sv_2mortal(newSVpvs(""));
    return NULL;
}

/* Per-call scratch memory that goes with the statement (a mortal buffer). */
static void *
scratch(pTHX_ size_t bytes)
{
    SV *buf = sv_2mortal(newSV(bytes ? bytes : 1));
    return SvPVX(buf);
}

/* The results of a _multi call (results[i]: mortal or NULL) as CMF returns them: in list context
 * one per argument (undef for NULL); in scalar context a hash reference of the defined ones under
 * their keys. Returns the number of stack items written at `base`. */
static I32
return_multi(pTHX_ SV **base, I32 gimme, SV **results, SV **keys, I32 n)
{
    I32 i;
    if (gimme == G_VOID)
        return 0;
    if (gimme == G_SCALAR) {
        HV *hv = newHV();
        SV *rv = sv_2mortal(newRV_noinc((SV *) hv));
        for (i = 0; i < n; ++i) {
            if (results[i] && SvOK(results[i]))
                (void) hv_store_ent(hv, keys[i], SvREFCNT_inc_simple_NN(results[i]), 0);
        }
        base[0] = rv;
        return 1;
    }
    for (i = 0; i < n; ++i)
        base[i] = results[i] ? results[i] : &PL_sv_undef;
    return n;
}

/* ---- retrieval ---------------------------------------------------------------------------------- */

typedef struct {
    SV *key;            /* for the result hash */
    SV *value;          /* a hit's bytes (mortal) left for decoding after the client returns */
    U32 flags;
    UV cas;
    int answered;       /* a key asked for twice is answered twice: the first answer counts */
} sr_slot;

typedef struct {
#ifdef PERL_IMPLICIT_CONTEXT
    PerlInterpreter *perl;
#endif
    const sr_memd *m;
    sr_slot *slots;
    HV *hv;             /* hits that need no Perl code go straight in here; NULL: none do */
    int with_cas;
} sr_fetch;

/* A value as get/gets return it: the value, or [ $cas, $value ]. */
static SV *
fetched(pTHX_ SV *value, int with_cas, UV cas)
{
    AV *pair;
    if (!with_cas)
        return value;
    pair = newAV();
    av_extend(pair, 1);
    av_push(pair, newSVuv(cas));
    av_push(pair, SvREFCNT_inc_simple_NN(value));
    return sv_2mortal(newRV_noinc((SV *) pair));
}

/* gat's touch after its get answered: the value stands unless the touch failed (a key deleted
 * in between gives "not found": the get came first, as a gat before the delete would). */
static int
touched(int rc)
{
    return rc == SAMERING_OK || rc == SAMERING_NOT_FOUND;
}

/* get / gets / gat / gats of one key: the value (mortal) or NULL. gat is a get then a touch of a
 * hit (libmemcached 1.1.4 has no gat command): the value read, as gat returns it, even when the
 * new exptime makes the item expire at once. */
static SV *
fetch_one(pTHX_ sr_memd *m, SV *key_arg, int with_cas, int touch, IV exptime)
{
    client_value_t v;
    STRLEN len;
    const char *key;
    int rc;
    SV *bytes, *value;
    if (!m->c)
        return NULL;
    key = key_bytes(aTHX_ key_arg, &len, NULL);
    rc = with_cas ? client_gets(m->c, key, len, &v) : client_get(m->c, key, len, &v);
    if (rc != SAMERING_OK)
        return NULL;
    bytes = newSVpvn_flags(v.value, v.value_len, SVs_TEMP);   /* v is the client's until its next call */
    if (touch && !touched(client_touch(m->c, key, len, exptime)))
        return NULL;
    value = decode_value(aTHX_ m, bytes, v.flags);
    return value ? fetched(aTHX_ value, with_cas, (UV) v.cas) : NULL;
}

/* The client's multi-get callback. No user Perl code may run here (the client is inside its
 * call): a value that needs the decompress or deserialize method is kept for later; any other
 * hit (plain bytes; UTF-8 to decode, which calls no Perl code) goes straight into the result hash
 * when there is one. */
static void
on_hit(void *ctx, size_t index, const char *value, size_t value_len, uint32_t flags, uint64_t cas)
{
    sr_fetch *f = (sr_fetch *) ctx;
    sr_slot *slot = &f->slots[index];
    SV *sv;
    dTHXa(f->perl);
    if (slot->answered)
        return;
    slot->answered = 1;
    sv = newSVpvn(value, value_len);
    if (!f->hv || (flags & (F_COMPRESS | F_STORABLE))) {
        slot->value = sv_2mortal(sv);
        slot->flags = flags;
        slot->cas = (UV) cas;
        return;
    }
    if ((flags & F_UTF8) && f->m->utf8 && !sv_utf8_decode(sv)) {
        SvREFCNT_dec(sv);   /* not UTF-8 after all: a miss, as in CMF */
        return;
    }
    if (f->with_cas) {
        AV *pair = newAV();
        av_extend(pair, 1);
        av_push(pair, newSVuv((UV) cas));
        av_push(pair, sv);
        sv = newRV_noinc((SV *) pair);
    }
    (void) hv_store_ent(f->hv, slot->key, sv, 0);
}

/* get_multi / gets_multi / gat_multi / gats_multi: a hash reference (mortal) of the hits. */
static SV *
fetch_many(pTHX_ sr_memd *m, SV **args, I32 n, int with_cas, int touch, IV exptime)
{
    HV *hv = newHV();
    SV *rv = sv_2mortal(newRV_noinc((SV *) hv));
    sr_slot *slots;
    const char **keys;
    size_t *lens;
    sr_fetch f;
    I32 i;
    if (!m->c || n <= 0)
        return rv;
    slots = (sr_slot *) scratch(aTHX_ n * sizeof(sr_slot));
    keys = (const char **) scratch(aTHX_ n * sizeof(const char *));
    lens = (size_t *) scratch(aTHX_ n * sizeof(size_t));
    Zero(slots, n, sr_slot);
    for (i = 0; i < n; ++i) {
        STRLEN len;
        keys[i] = key_bytes(aTHX_ args[i], &len, &slots[i].key);
        lens[i] = len;
    }
#ifdef PERL_IMPLICIT_CONTEXT
    f.perl = aTHX;
#endif
    f.m = m;
    f.slots = slots;
    f.hv = touch ? NULL : hv;   /* gat_multi keeps every hit until its touch answered */
    f.with_cas = with_cas;
    if (with_cas)
        (void) client_gets_multi(m->c, keys, lens, (size_t) n, NULL, on_hit, &f);
    else
        (void) client_get_multi(m->c, keys, lens, (size_t) n, NULL, on_hit, &f);
    if (touch) {
        /* gat_multi: then a touch of every hit (see fetch_one) */
        client_touch_t *items = (client_touch_t *) scratch(aTHX_ n * sizeof(client_touch_t));
        I32 hits = 0;
        for (i = 0; i < n; ++i) {
            if (!slots[i].value)
                continue;
            items[hits].key = keys[i];
            items[hits].key_len = lens[i];
            items[hits].exptime = exptime;
            items[hits].status = SAMERING_EINVAL;
            ++hits;
        }
        (void) client_touch_multi(m->c, items, (size_t) hits);
        for (i = 0, hits = 0; i < n; ++i) {
            if (slots[i].value && !touched(items[hits++].status))
                slots[i].value = NULL;
        }
    }
    /* The rest (decompress, thaw: Perl code) only now, after the client returned. */
    for (i = 0; i < n; ++i) {
        SV *value;
        if (!slots[i].value)
            continue;
        value = decode_value(aTHX_ m, slots[i].value, slots[i].flags);
        if (!value || !SvOK(value))
            continue;
        value = fetched(aTHX_ value, with_cas, slots[i].cas);
        (void) hv_store_ent(hv, slots[i].key, SvREFCNT_inc_simple_NN(value), 0);
    }
    return rv;
}

/* ---- storage ------------------------------------------------------------------------------------ */

enum { CMD_SET = CLIENT_SET, CMD_ADD = CLIENT_ADD, CMD_REPLACE = CLIENT_REPLACE, CMD_APPEND = CLIENT_APPEND,
       CMD_PREPEND = CLIENT_PREPEND, CMD_CAS = CLIENT_CAS };

/* One storage command, ready to send. */
typedef struct {
    SV *key_sv;
    const char *key;
    STRLEN key_len;
    const char *value;
    STRLEN value_len;
    U32 flags;
    IV exptime;
    UV cas;
    int too_large;      /* over max_size: not sent, undef (CMF) */
} sr_store;

/* Reads a storage command's key, cas (cas only), value (encoded) and exptime (may be NULL). */
static void
prepare_store(pTHX_ sr_memd *m, int ix, SV *key, SV *cas, SV *value, SV *exptime, sr_store *s)
{
    SV *bytes;
    s->key = key_bytes(aTHX_ key, &s->key_len, &s->key_sv);
    s->cas = ix == CMD_CAS ? SvUV(cas) : 0;
    s->flags = 0;
    bytes = encode_value(aTHX_ m, value, &s->flags);
    s->value = SvPV_const(bytes, s->value_len);
    s->too_large = s->value_len > m->max_size;
    s->exptime = opt_iv(aTHX_ exptime, 0);
}

static int
send_store(pTHX_ sr_memd *m, int ix, const sr_store *s, int opts)
{
    switch (ix) {
    case CMD_ADD:
        return client_add(m->c, s->key, s->key_len, s->value, s->value_len, s->flags, s->exptime, opts);
    case CMD_REPLACE:
        return client_replace(m->c, s->key, s->key_len, s->value, s->value_len, s->flags, s->exptime, opts);
    case CMD_APPEND:
        return client_append(m->c, s->key, s->key_len, s->value, s->value_len, s->flags, s->exptime, opts);
    case CMD_PREPEND:
        return client_prepend(m->c, s->key, s->key_len, s->value, s->value_len, s->flags, s->exptime, opts);
    case CMD_CAS:
        return client_cas(m->c, s->key, s->key_len, s->cas, s->value, s->value_len, s->flags, s->exptime, opts);
    default:
        return client_set(m->c, s->key, s->key_len, s->value, s->value_len, s->flags, s->exptime, opts);
    }
}

/* Element i of a _multi argument [ ... ], which must be there and defined (Fast.xs
 * safe_av_fetch). */
static SV *
item_at(pTHX_ AV *av, I32 i)
{
    SV **p = av_fetch(av, i, 0);
    if (p)
        SvGETMAGIC(*p);
    if (!p || !SvOK(*p))
        croak("undefined value passed to av_fetch");
    return *p;
}

static SV *
item_opt(pTHX_ AV *av, I32 i)
{
    SV **p;
    if (av_len(av) < i)
        return NULL;
    p = av_fetch(av, i, 0);
    return p ? *p : NULL;
}

static AV *
item_array(pTHX_ SV *sv)
{
    if (!SvROK(sv) || SvTYPE(SvRV(sv)) != SVt_PVAV)
        croak("Not an array reference");
    return (AV *) SvRV(sv);
}

/* A _multi argument that is a key or [ $key, $arg ]: the key and the optional argument. */
static SV *
key_or_pair(pTHX_ SV *sv, SV **arg)
{
    AV *av;
    *arg = NULL;
    if (!SvROK(sv))
        return sv;
    av = item_array(aTHX_ sv);
    *arg = item_opt(aTHX_ av, 1);
    return item_at(aTHX_ av, 0);
}

MODULE = Cache::Memcached::SameRing    PACKAGE = Cache::Memcached::SameRing

PROTOTYPES: DISABLE

void
_new(class, conf)
    const char *class
    SV *conf
  PREINIT:
    sr_memd *m;
    SV *obj;
  PPCODE:
    if (!SvROK(conf) || SvTYPE(SvRV(conf)) != SVt_PVHV)
        croak("Not a hash reference");
    m = memd_new(aTHX_ (HV *) SvRV(conf));
    obj = sv_newmortal();
    sv_setref_pv(obj, class, (void *) m);
    PUSHs(obj);

void
_destroy(memd)
    Cache_Memcached_SameRing memd
  CODE:
    sv_setiv(SvRV(ST(0)), 0);
    memd_free(aTHX_ memd);

void
_weaken(sv)
    SV *sv
  CODE:
    sv_rvweaken(sv);

void
enable_compress(memd, enable)
    Cache_Memcached_SameRing memd
    bool enable
  CODE:
    if (enable && !memd->compress_method)
        warn("Compression module was not found, can't enable compression");
    else if ((memd->compress_threshold > 0) != enable)
        memd->compress_threshold = -memd->compress_threshold;

void
set(memd, key, ...)
    Cache_Memcached_SameRing memd
    SV *key
  ALIAS:
    add = CMD_ADD
    replace = CMD_REPLACE
    append = CMD_APPEND
    prepend = CMD_PREPEND
    cas = CMD_CAS
  PREINIT:
    sr_store s;
    I32 gimme = GIMME_V;
    int arg = ix == CMD_CAS ? 3 : 2, rc;
    SV *result;
  PPCODE:
    if (items <= arg)
        croak("Usage: $memd->%s($key, %s$value[, $expiration_time])", GvNAME(CvGV(cv)),
              ix == CMD_CAS ? "$cas, " : "");
    prepare_store(aTHX_ memd, ix, key, ix == CMD_CAS ? ST(2) : NULL, ST(arg), items > arg + 1 ? ST(arg + 1) : NULL, &s);
    if (s.too_large || !memd->c)
        XSRETURN_EMPTY;
    rc = send_store(aTHX_ memd, ix, &s, noreply_for(aTHX_ memd, gimme, s.key, s.key_len));
    if (gimme == G_VOID || !(result = answer(aTHX_ rc)))
        XSRETURN_EMPTY;
    PUSHs(result);

void
set_multi(memd, ...)
    Cache_Memcached_SameRing memd
  ALIAS:
    add_multi = CMD_ADD
    replace_multi = CMD_REPLACE
    append_multi = CMD_APPEND
    prepend_multi = CMD_PREPEND
    cas_multi = CMD_CAS
  PREINIT:
    I32 gimme = GIMME_V, n = items - 1, i;
    sr_store *s;
    SV **results, **keys;
  PPCODE:
    s = (sr_store *) scratch(aTHX_ n * sizeof(sr_store));
    results = (SV **) scratch(aTHX_ n * sizeof(SV *));
    keys = (SV **) scratch(aTHX_ n * sizeof(SV *));
    /* Every item is read and encoded before the first is sent: a malformed one croaks with
     * nothing stored (CMF's t/malformed.t). */
    for (i = 0; i < n; ++i) {
        AV *av = item_array(aTHX_ ST(i + 1));
        I32 at = 0;
        SV *key = item_at(aTHX_ av, at++);
        SV *cas = ix == CMD_CAS ? item_at(aTHX_ av, at++) : NULL;
        SV *value = item_at(aTHX_ av, at++);
        prepare_store(aTHX_ memd, ix, key, cas, value, item_opt(aTHX_ av, at), &s[i]);
        keys[i] = s[i].key_sv;
    }
    for (i = 0; i < n; ++i) {
        results[i] = NULL;
        if (s[i].too_large || !memd->c)
            continue;
        results[i] = answer(aTHX_ send_store(aTHX_ memd, ix, &s[i], noreply_for(aTHX_ memd, gimme, s[i].key, s[i].key_len)));
    }
    EXTEND(SP, n);
    XSRETURN(return_multi(aTHX_ &ST(0), gimme, results, keys, n));

void
get(memd, key)
    Cache_Memcached_SameRing memd
    SV *key
  ALIAS:
    gets = 1
  PREINIT:
    SV *value;
  PPCODE:
    value = fetch_one(aTHX_ memd, key, ix, 0, 0);
    if (!value)
        XSRETURN_EMPTY;
    PUSHs(value);

void
get_multi(memd, ...)
    Cache_Memcached_SameRing memd
  ALIAS:
    gets_multi = 1
  PPCODE:
    ST(0) = fetch_many(aTHX_ memd, &ST(1), items - 1, ix, 0, 0);
    XSRETURN(1);

void
gat(memd, exptime, key)
    Cache_Memcached_SameRing memd
    SV *exptime
    SV *key
  ALIAS:
    gats = 1
  PREINIT:
    SV *value;
  PPCODE:
    value = fetch_one(aTHX_ memd, key, ix, 1, opt_iv(aTHX_ exptime, 0));
    if (!value)
        XSRETURN_EMPTY;
    PUSHs(value);

void
gat_multi(memd, ...)
    Cache_Memcached_SameRing memd
  ALIAS:
    gats_multi = 1
  PPCODE:
    ST(0) = items < 2 ? sv_2mortal(newRV_noinc((SV *) newHV()))
                      : fetch_many(aTHX_ memd, &ST(2), items - 2, ix, 1, opt_iv(aTHX_ ST(1), 0));
    XSRETURN(1);

void
incr(memd, key, ...)
    Cache_Memcached_SameRing memd
    SV *key
  ALIAS:
    decr = 1
  PREINIT:
    I32 gimme = GIMME_V;
    STRLEN len;
    const char *k;
    UV delta;
    uint64_t value = 0;
    int rc;
    SV *result;
  PPCODE:
    k = key_bytes(aTHX_ key, &len, NULL);
    delta = opt_uv(aTHX_ items > 2 ? ST(2) : NULL, 1);
    if (!memd->c)
        XSRETURN_EMPTY;
    rc = (ix ? client_decr : client_incr)(memd->c, k, len, delta, &value, noreply_for(aTHX_ memd, gimme, k, len));
    if (gimme == G_VOID || !(result = arith_answer(aTHX_ rc, value)))
        XSRETURN_EMPTY;
    PUSHs(result);

void
incr_multi(memd, ...)
    Cache_Memcached_SameRing memd
  ALIAS:
    decr_multi = 1
  PREINIT:
    I32 gimme = GIMME_V, n = items - 1, i;
    SV **results, **keys;
    const char **k;
    STRLEN *len;
    UV *delta;
  PPCODE:
    results = (SV **) scratch(aTHX_ n * sizeof(SV *));
    keys = (SV **) scratch(aTHX_ n * sizeof(SV *));
    k = (const char **) scratch(aTHX_ n * sizeof(const char *));
    len = (STRLEN *) scratch(aTHX_ n * sizeof(STRLEN));
    delta = (UV *) scratch(aTHX_ n * sizeof(UV));
    for (i = 0; i < n; ++i) {
        SV *arg;
        SV *key = key_or_pair(aTHX_ ST(i + 1), &arg);
        k[i] = key_bytes(aTHX_ key, &len[i], &keys[i]);
        delta[i] = opt_uv(aTHX_ arg, 1);
    }
    for (i = 0; i < n; ++i) {
        uint64_t value = 0;
        int rc;
        results[i] = NULL;
        if (!memd->c)
            continue;
        rc = (ix ? client_decr : client_incr)(memd->c, k[i], len[i], delta[i], &value,
                                               noreply_for(aTHX_ memd, gimme, k[i], len[i]));
        results[i] = arith_answer(aTHX_ rc, value);
    }
    EXTEND(SP, n);
    XSRETURN(return_multi(aTHX_ &ST(0), gimme, results, keys, n));

void
delete(memd, key, ...)
    Cache_Memcached_SameRing memd
    SV *key
  ALIAS:
    remove = 1
  PREINIT:
    I32 gimme = GIMME_V;
    STRLEN len;
    const char *k;
    int rc;
    SV *result;
  PPCODE:
    PERL_UNUSED_VAR(ix);
    k = key_bytes(aTHX_ key, &len, NULL);
    if (opt_uv(aTHX_ items > 2 ? ST(2) : NULL, 0) != 0)   /* the old (key, delay) form */
        warn("non-zero delete expiration time is ignored");
    if (!memd->c)
        XSRETURN_EMPTY;
    rc = client_delete(memd->c, k, len, noreply_for(aTHX_ memd, gimme, k, len));
    if (gimme == G_VOID || !(result = answer(aTHX_ rc)))
        XSRETURN_EMPTY;
    PUSHs(result);

void
delete_multi(memd, ...)
    Cache_Memcached_SameRing memd
  PREINIT:
    I32 gimme = GIMME_V, n = items - 1, i;
    SV **results, **keys;
    const char **k;
    STRLEN *len;
  PPCODE:
    results = (SV **) scratch(aTHX_ n * sizeof(SV *));
    keys = (SV **) scratch(aTHX_ n * sizeof(SV *));
    k = (const char **) scratch(aTHX_ n * sizeof(const char *));
    len = (STRLEN *) scratch(aTHX_ n * sizeof(STRLEN));
    for (i = 0; i < n; ++i) {
        SV *arg;
        SV *key = key_or_pair(aTHX_ ST(i + 1), &arg);
        k[i] = key_bytes(aTHX_ key, &len[i], &keys[i]);
        if (opt_uv(aTHX_ arg, 0) != 0)
            warn("non-zero delete expiration time is ignored");
    }
    for (i = 0; i < n; ++i) {
        results[i] = memd->c ? answer(aTHX_ client_delete(memd->c, k[i], len[i],
                                                           noreply_for(aTHX_ memd, gimme, k[i], len[i])))
                             : NULL;
    }
    EXTEND(SP, n);
    XSRETURN(return_multi(aTHX_ &ST(0), gimme, results, keys, n));

void
touch(memd, key, ...)
    Cache_Memcached_SameRing memd
    SV *key
  PREINIT:
    I32 gimme = GIMME_V;
    STRLEN len;
    const char *k;
    IV exptime;
    int rc;
    SV *result;
  PPCODE:
    k = key_bytes(aTHX_ key, &len, NULL);
    exptime = opt_iv(aTHX_ items > 2 ? ST(2) : NULL, 0);
    if (!memd->c)
        XSRETURN_EMPTY;
    /* always waits: libmemcached 1.1.4 sends touch without noreply */
    rc = client_touch(memd->c, k, len, exptime);
    if (gimme == G_VOID || !(result = answer(aTHX_ rc)))
        XSRETURN_EMPTY;
    PUSHs(result);

void
touch_multi(memd, ...)
    Cache_Memcached_SameRing memd
  PREINIT:
    I32 gimme = GIMME_V, n = items - 1, i;
    SV **results, **keys;
    client_touch_t *t;
  PPCODE:
    results = (SV **) scratch(aTHX_ n * sizeof(SV *));
    keys = (SV **) scratch(aTHX_ n * sizeof(SV *));
    t = (client_touch_t *) scratch(aTHX_ n * sizeof(client_touch_t));
    for (i = 0; i < n; ++i) {
        AV *av = item_array(aTHX_ ST(i + 1));
        STRLEN len;
        t[i].key = key_bytes(aTHX_ item_at(aTHX_ av, 0), &len, &keys[i]);
        t[i].key_len = len;
        t[i].exptime = opt_iv(aTHX_ item_opt(aTHX_ av, 1), 0);
        t[i].status = SAMERING_EINVAL;
    }
    if (memd->c)
        (void) client_touch_multi(memd->c, t, (size_t) n);
    for (i = 0; i < n; ++i)
        results[i] = answer(aTHX_ t[i].status);
    EXTEND(SP, n);
    XSRETURN(return_multi(aTHX_ &ST(0), gimme, results, keys, n));

void
flush_all(memd, ...)
    Cache_Memcached_SameRing memd
  PREINIT:
    I32 gimme = GIMME_V;
    UV delay;
    NV step = 0, d;
    HV *hv;
    int i;
  PPCODE:
    delay = opt_uv(aTHX_ items > 1 ? ST(1) : NULL, 0);
    hv = newHV();
    ST(0) = sv_2mortal(newRV_noinc((SV *) hv));
    /* CMF 0.28 client.c client_flush_all: the delay is spread over the servers, the first gets
     * all of it and the last none (30 s over three: 30, 15, 0). */
    if (memd->server_count > 1)
        step = (NV) delay / (memd->server_count - 1);
    d = (NV) delay + step;
    for (i = 0; i < memd->server_count; ++i) {
        int opts = 0;
        d -= step;
        if (gimme == G_VOID && (memd->nowait || memd->noreply[i]))
            opts = CLIENT_NOREPLY;
        if (client_flush(memd->c, i, (int64_t) (d + 0.5), opts) == SAMERING_OK)
            (void) hv_store_ent(hv, AvARRAY(memd->servers)[i], newSViv(1), 0);
    }
    XSRETURN(1);

void
nowait_push(memd)
    Cache_Memcached_SameRing memd
  CODE:
    if (memd->c)
        (void) client_sync(memd->c);

void
server_versions(memd)
    Cache_Memcached_SameRing memd
  PREINIT:
    HV *hv;
    int i;
  PPCODE:
    hv = newHV();
    ST(0) = sv_2mortal(newRV_noinc((SV *) hv));
    for (i = 0; i < memd->server_count; ++i) {
        const char *version;
        if (client_version(memd->c, i, &version) == SAMERING_OK)
            (void) hv_store_ent(hv, AvARRAY(memd->servers)[i], newSVpv(version, 0), 0);
    }
    XSRETURN(1);

void
namespace(memd, ...)
    Cache_Memcached_SameRing memd
  PREINIT:
    SV *old;
  PPCODE:
    old = memd->c ? newSVpv(client_namespace(memd->c), 0) : newSVsv(memd->ns);
    if (items > 1) {
        STRLEN len;
        const char *ns = SvPV_const(ST(1), len);
        if (memd->c && client_set_namespace(memd->c, ns, len) != SAMERING_OK) {
            SvREFCNT_dec(old);
            croak("Cache::Memcached::SameRing: %s", client_last_error(memd->c));
        }
        sv_setpvn(memd->ns, ns, len);
    }
    ST(0) = sv_2mortal(old);
    XSRETURN(1);

void
disconnect_all(memd)
    Cache_Memcached_SameRing memd
  CODE:
    if (memd->c)
        (void) client_disconnect_all(memd->c);
