package SameRing::Selector;

use strict;
use warnings;

our $VERSION = '0.01';

use Carp ();
use Scalar::Util ();
use overload ();
use XSLoader;

XSLoader::load('SameRing::Selector', $VERSION);

# pick, pick_index, pick_multi, servers, flavor, generation and source are XSUBs (Selector.xs): a Perl wrapper sub
# would cost about as much again as the pick itself.

# The types the core expects for the options of the flavors it knows (docs/spec-format.md).
# Perl values are converted the way Cache::Memcached::Fast's Fast.xs reads them (SvTRUE for
# flags, the string for names); an option not listed is passed as a number when it looks like
# one and as a string otherwise, and the core names it if it is unknown.
my %BOOL_OPTION   = map { $_ => 1 } qw(hash_namespace repeat_by_weight servers_first);
my %STRING_OPTION = map { $_ => 1 } qw(namespace distribution hash hash_tag);
my %INT_OPTION    = map { $_ => 1 } qw(ketama_points);
my %SERVER_KEY    = map { $_ => 1 } qw(address weight noreply name);
# The arguments that make a broker- or shm-backed selector instead of a local one.
my @REMOTE_ARG    = qw(broker shm_dir ring timeout shm owner_uid);

sub new {
    my $class = shift;
    my %args;
    if (@_ == 1 && ref $_[0] eq 'HASH') {
        %args = %{ $_[0] };
    } elsif (@_ % 2 == 0) {
        %args = @_;
    } else {
        Carp::croak('SameRing::Selector->new: arguments must be name => value pairs');
    }
    return _new_remote($class, \%args) if grep { exists $args{$_} } @REMOTE_ARG;
    my @sources = grep { exists $args{$_} } qw(spec json servers);
    Carp::croak('SameRing::Selector->new: give one of spec => FILE, json => TEXT, '
                . 'or flavor => NAME, servers => [...]; or broker => SOCKET, ring => NAME; '
                . 'or shm_dir => DIR, ring => NAME') if @sources != 1;
    my $source = $sources[0];
    if ($source ne 'servers') {
        my @other = grep { $_ ne $source } sort keys %args;
        Carp::croak("SameRing::Selector->new: $source => ... takes no other arguments "
                    . "(got @other); options belong in the spec") if @other;
        Carp::croak("SameRing::Selector->new: $source must be defined") unless defined $args{$source};
    }
    my ($self, $error) = $source eq 'spec' ? _new_from_file($class, $args{spec})
                       : $source eq 'json' ? _new_from_json($class, $args{json})
                       :                     _new_from_json($class, _spec_json(\%args));
    Carp::croak($error) unless $self;
    return $self;
}

# ---- a ring served by samering-broker: over its socket, or mapped from its --shm-dir ----

# The timeout of each broker request when none is given, in ms (samering::BrokerOptions' default).
my $DEFAULT_TIMEOUT_MS = 2000;

sub _new_remote {
    my ($class, $args) = @_;
    my @where = grep { exists $args->{$_} } qw(broker shm_dir);
    if (@where != 1) {
        Carp::croak('SameRing::Selector->new: give broker => SOCKET or shm_dir => DIR, not both') if @where;
        my @given = grep { exists $args->{$_} } @REMOTE_ARG;
        Carp::croak('SameRing::Selector->new: ' . join(', ', @given) . (@given == 1 ? ' needs' : ' need')
                    . ' broker => SOCKET (with ring => NAME, [timeout => MS], [shm => 1]) '
                    . 'or shm_dir => DIR (with ring => NAME)');
    }
    my $where = $where[0];
    my %takes = $where eq 'broker' ? (broker => 1, ring => 1, timeout => 1, shm => 1)
                                   : (shm_dir => 1, ring => 1, owner_uid => 1);
    my @other = grep { !$takes{$_} } sort keys %$args;
    Carp::croak("SameRing::Selector->new: $where => ... takes "
                . ($where eq 'broker' ? 'ring, timeout and shm' : 'ring and owner_uid')
                . " only (got @other); the ring's spec is the broker's") if @other;
    Carp::croak("SameRing::Selector->new: $where => ... needs ring => NAME") unless exists $args->{ring};
    for my $name ($where, 'ring') {
        my $value = $args->{$name};
        Carp::croak("SameRing::Selector->new: $name must be a non-empty string")
            unless defined $value && !ref $value && length $value;
        Carp::croak("SameRing::Selector->new: $name must not contain a NUL byte") if $value =~ /\0/;
    }
    if ($where eq 'shm_dir') {
        # owner_uid: the uid a broker service runs as, whose files are trusted besides root's and
        # this process's (docs/protocol.md, reader rules)
        my $owner = $args->{owner_uid};
        Carp::croak('SameRing::Selector->new: owner_uid must be a uid (a whole number >= 0)')
            if defined $owner && (ref $owner || $owner !~ /\A[0-9]+\z/ || $owner > 2**32 - 1);
        my ($self, $error) = _new_from_shm($class, "$args->{shm_dir}", "$args->{ring}",
                                           defined $owner ? 0 + $owner : -1);
        Carp::croak($error) unless $self;
        return $self;
    }
    my $timeout = $args->{timeout};
    if (defined $timeout) {
        Carp::croak("SameRing::Selector->new: timeout must be a whole number of milliseconds "
                    . '>= 0 (0: wait as long as it takes)')
            unless !ref $timeout && $timeout =~ /\A[0-9]+\z/ && $timeout <= 2**31 - 1;
    } else {
        $timeout = $DEFAULT_TIMEOUT_MS;
    }
    my ($self, $error) = _new_from_broker($class, "$args->{broker}", "$args->{ring}", 0 + $timeout,
                                          $args->{shm} ? 1 : 0);
    Carp::croak($error) unless $self;
    return $self;
}

# ---- spec JSON from Cache::Memcached::Fast / Cache::Memcached style arguments ----
#
# The JSON is assembled as bytes here rather than with JSON::PP: a host or namespace must reach the
# core as exactly the bytes Cache::Memcached::Fast hashes (SvPV: the string's bytes, the UTF-8
# encoding for a string with the UTF-8 flag), and weights must keep every bit of their double.

sub _spec_json {
    my ($args) = @_;
    my %options = %$args;
    my $flavor  = delete $options{flavor};
    my $servers = delete $options{servers};
    Carp::croak('servers: must be an array reference of "host:port", { address => ..., weight => ... } '
                . 'or [ "host:port", weight ]')
        unless ref $servers && Scalar::Util::reftype($servers) eq 'ARRAY';

    my @fields;
    push @fields, '"flavor":' . _json_string($flavor, 'flavor') if defined $flavor;
    push @fields, '"options":{' . join(',', map { _json_string($_, 'options') . ':' . _option($_, $options{$_}) }
                                           grep { defined $options{$_} } sort keys %options) . '}';
    push @fields, '"servers":[' . join(',', map { _server($servers->[$_], "servers[$_]") }
                                           0 .. $#$servers) . ']';
    my $json = '{' . join(',', @fields) . '}';
    utf8::downgrade($json);    # every piece is bytes already; make sure no flag crept in
    return $json;
}

sub _server {
    my ($server, $at) = @_;
    my ($address, $weight, $name);
    my $type = ref $server ? Scalar::Util::reftype($server) : '';
    if ($type eq '') {
        $address = $server;                                   # "host:port"
    } elsif ($type eq 'HASH') {                               # Cache::Memcached::Fast
        for my $key (sort keys %$server) {
            Carp::croak("$at.$key: unknown key (expected address, weight, noreply, name)")
                unless $SERVER_KEY{$key};
        }
        Carp::croak("$at.address: is required") unless exists $server->{address};
        ($address, $weight, $name) = @{$server}{qw(address weight name)};
    } elsif ($type eq 'ARRAY') {                              # Cache::Memcached
        Carp::croak("$at: must be [ \"host:port\", weight ]") unless @$server == 1 || @$server == 2;
        ($address, $weight) = @$server;
    } else {
        Carp::croak("$at: must be \"host:port\", { address => ..., weight => ... } "
                    . 'or [ "host:port", weight ]');
    }
    Carp::croak("$at: the address is undefined") unless defined $address;
    # Cache::Memcached::Fast splits at the LAST ':' (strrchr in Fast.xs add_server), and hashes
    # the port as written: "011211" and "11211" are different servers to it.
    my $colon = rindex $address, ':';
    Carp::croak("$at: \"$address\" has no \":port\" (a Unix socket path cannot be written in a spec)")
        if $colon < 0;
    my $json = '{"host":' . _json_string(substr($address, 0, $colon), "$at.host")
             . ',"port":' . _json_string(substr($address, $colon + 1), "$at.port");
    $json .= ',"weight":' . _number($weight, "$at.weight") if defined $weight;
    $json .= ',"name":' . _json_string($name, "$at.name") if defined $name;    # twemproxy
    return $json . '}';
}

sub _option {
    my ($name, $value) = @_;
    if ($BOOL_OPTION{$name}) {
        return $value ? 'true' : 'false';
    }
    if ($STRING_OPTION{$name}) {
        Carp::croak("options.$name: must be a string (got " . Scalar::Util::reftype($value) . ' reference)')
            if ref $value && !overload::Method($value, '""');
        return _json_string($value, "options.$name");
    }
    if (ref $value && Scalar::Util::blessed($value) && $value->isa('JSON::PP::Boolean')) {
        return $value ? 'true' : 'false';
    }
    return Scalar::Util::looks_like_number($value) ? _number($value, "options.$name")
                                                   : _json_string($value, "options.$name")
        if !$INT_OPTION{$name};
    # an integer option: an integral number is written as an integer; anything else is passed on
    # as it is, and the core says what it wanted (e.g. "options.ketama_points: must be an integer")
    return _json_string($value, "options.$name") unless Scalar::Util::looks_like_number($value);
    my $n = 0 + $value;
    return $n == int($n) && abs($n) < 1e18 ? sprintf('%.0f', $n) : _number($value, "options.$name");
}

# A number as JSON with every bit of its double (%.17g round-trips through strtod); a value that
# does not look like a number goes as a string so that the core names the field and the type.
sub _number {
    my ($value, $at) = @_;
    return _json_string($value, $at) unless Scalar::Util::looks_like_number($value);
    my $n = 0 + $value;
    Carp::croak("$at: must be a finite number (got $value)") if $n != $n || $n * 0 != 0;
    return sprintf '%.17g', $n;
}

# A JSON string holding exactly the bytes Perl's SvPV gives for $s (the UTF-8 encoding when the
# string has the UTF-8 flag), on a copy: the caller's scalar is left as it is. The spec is text, so
# bytes that are not UTF-8 (say a Latin-1 "\xE9" without the flag) cannot be carried: croak naming
# the field rather than let the JSON parser report a byte offset.
my $UTF8 = qr/\A(?:[\x00-\x7f]|[\xc2-\xdf][\x80-\xbf]|\xe0[\xa0-\xbf][\x80-\xbf]|[\xe1-\xec\xee\xef][\x80-\xbf]{2}
                |\xed[\x80-\x9f][\x80-\xbf]|\xf0[\x90-\xbf][\x80-\xbf]{2}|[\xf1-\xf3][\x80-\xbf]{3}
                |\xf4[\x80-\x8f][\x80-\xbf]{2})*\z/x;

sub _json_string {
    my ($s, $at) = @_;
    $s = "$s";
    utf8::encode($s) if utf8::is_utf8($s);
    Carp::croak("$at: must be valid UTF-8 (the bytes given are not; a spec holds text)")
        if $s =~ /[\x80-\xff]/ && $s !~ $UTF8;
    $s =~ s/(["\\\x00-\x1f])/$1 eq '"' ? '\\"' : $1 eq '\\' ? '\\\\' : sprintf('\\u%04x', ord $1)/ge;
    return qq("$s");
}

1;

__END__

=head1 NAME

SameRing::Selector - pick the same memcached server for a key as Cache::Memcached::Fast, Cache::Memcached or gomemcache do

=head1 SYNOPSIS

  use SameRing::Selector;

  # servers given the way Cache::Memcached::Fast takes them
  my $ring = SameRing::Selector->new(
      flavor        => 'cmf',
      servers       => [ '10.0.0.1:11211',
                         { address => '10.0.0.2:11211', weight => 2.5 },
                         [ '10.0.0.3:11211', 1 ] ],   # Cache::Memcached style
      ketama_points => 150,
      namespace     => 'app:',
      hash_namespace => 1,
  );

  # or from a spec file / spec JSON (docs/spec-format.md of samering)
  my $ring2 = SameRing::Selector->new(spec => '/etc/samering/ring.json');
  my $ring3 = SameRing::Selector->new(json => '{"flavor":"gomemcache","servers":[{"host":"a"},{"host":"b"}]}');

  # or the ring a samering-broker serves: over its socket, or mapped from its shared memory
  my $remote = SameRing::Selector->new(broker => '/run/samering.sock', ring => 'main');
  my $mapped = SameRing::Selector->new(broker => '/run/samering.sock', ring => 'main', shm => 1);
  my $mapped2 = SameRing::Selector->new(shm_dir => '/dev/shm/samering', ring => 'main');

  my $where = $ring->pick('user:42');          # "10.0.0.2:11211"
  my $index = $ring->pick_index('user:42');    # 1
  my @where = $ring->pick_multi(@keys);        # one call for many keys
  my @all   = $ring->servers;                  # ("10.0.0.1:11211", ...), in spec order
  my $name  = $ring->flavor;                   # "cmf"
  my $gen   = $remote->generation;             # the broker's generation of the ring (0: local)
  my $from  = $remote->source;                 # "local", "broker" or "shm"

=head1 DESCRIPTION

A memcached cluster shared by several clients only works when each of them sends a key to the
same server. SameRing::Selector answers "which server gets this key" exactly as a given client
library does, so that a Perl program can route keys the way a Go service using gomemcache does,
or follow a Cache::Memcached::Fast deployment without opening connections.

It is a thin XS layer over the samering C API (C<samering/selector.h>), which is linked into the
module statically. A selector is immutable once built: C<pick> allocates no string buffer, takes
no lock and is a single XS call (about the cost of calling an empty XS function).

A selector answers from one of three sources, with the same methods (see L</SOURCES>): a ring
built in the process from a spec (C<local>), a running C<samering-broker> asked over its Unix
socket (C<broker>), or the ring image that broker publishes in shared memory (C<shm>). The last
two follow the broker's reloads.

The flavors are those of the samering core the module was built with (an unknown flavor
croaks with the list); at the time of writing:

=over 4

=item C<cmf>

Cache::Memcached::Fast 0.28. Options C<ketama_points> (0, the default, is CMF's
Cache::Memcached-compatible mode; > 0 its ketama ring), C<namespace>, C<hash_namespace>
(the namespace takes part in the hash only when this is true, as in CMF). Weights may be
fractional.

=item C<cache-memcached>

Cache::Memcached 1.30 with C<no_rehash>. Option C<namespace> (accepted, never hashed). Weights must
be integers.

=item C<gomemcache>

gomemcache's C<ServerList.PickServer>. Option C<repeat_by_weight> (list a server C<weight> times);
without it a weight other than 1 is an error.

=item C<libmemcached>, C<twemproxy>, C<nginx>

libmemcached 1.1.4 (options C<distribution>, C<hash>, C<servers_first>), twemproxy
(C<distribution>, C<hash>, C<hash_tag>; a server may carry a C<name>), nginx's
C<hash $key consistent>. These refuse some keys (the empty key; libmemcached and twemproxy also
keys longer than they accept): see L</pick>.

=back

The spec format and every option are described in the samering tree (F<docs/spec-format.md>).

=head1 METHODS

=head2 new

  SameRing::Selector->new(spec => $path)
  SameRing::Selector->new(json => $text)
  SameRing::Selector->new(flavor => $name, servers => \@servers, %options)

Builds a selector, or croaks with the core's message, which names the offending field:

  servers[1].port: must be 1-65535 (got 70000)
  options.foo: unknown option for flavor cmf
  /etc/ring.json: cannot read spec file: No such file or directory

C<spec> names a spec file; C<json> is the spec itself (UTF-8 bytes, or a character string, which
is encoded to UTF-8). Either takes no other argument.

With C<servers>, the spec is built from a server list written the way Cache::Memcached::Fast and
Cache::Memcached take it; every element is one of

  "host:port"                                   # weight 1
  { address => "host:port", weight => 2.5 }     # Cache::Memcached::Fast (noreply is ignored)
  [ "host:port", 3 ]                            # Cache::Memcached
  { address => "host:port", name => "node1" }   # a node name, for twemproxy

The address is split at its B<last> colon, as Cache::Memcached::Fast does, and the port is kept
as the digits written: CMF hashes the port text, so C<"host:011211"> and C<"host:11211"> are
different places on its ring. Hosts are used exactly as written (no DNS, no lower-casing). An
address without a port (a Unix socket path) cannot be described and croaks. The host and the
namespace take part in the hash as the bytes Perl holds for them (the UTF-8 encoding for a
string with the UTF-8 flag), as in CMF. A spec is text, so a host or namespace whose bytes are not
valid UTF-8 (a Latin-1 C<"\xE9"> without the UTF-8 flag, say) cannot be described and croaks.

Every other name => value pair is a flavor option (C<ketama_points>, C<namespace>,
C<hash_namespace>, C<repeat_by_weight>, ...); an option that is C<undef> counts as not given; a
flag is true or false the Perl way. Options that only matter to a client (C<connect_timeout>,
C<io_timeout>, ...) are unknown here and croak, since they do not change where keys go.
A single hash reference may be passed instead of the list.

=head2 new (broker and shared memory)

  SameRing::Selector->new(broker => $socket_path, ring => $name [, timeout => $ms])
  SameRing::Selector->new(broker => $socket_path, ring => $name, shm => 1 [, timeout => $ms])
  SameRing::Selector->new(shm_dir => $dir, ring => $name [, owner_uid => $uid])

A selector for the ring C<$name> of a running C<samering-broker> (docs/protocol.md in the samering
tree); the spec is the broker's, so no spec, server list or option is given here.

With C<broker> alone every C<pick> is one round trip over the Unix socket C<$socket_path> and
every C<pick_multi> one per batch (C<selector_new_from_broker>). The constructor connects and
checks that the ring exists. C<timeout> bounds the connect and each request, in milliseconds
(default 2000; C<0> waits as long as it takes).

With C<shm =E<gt> 1> the broker is asked once where it publishes its shared memory (its
C<--shm-dir>), and the selector maps the ring image from there (C<selector_new_from_broker_shm>);
no connection is kept; the broker's uid is trusted as the owner of its files. C<shm_dir> names that
directory directly (C<selector_new_from_shm_owned_by>): its directory and files must belong to
root, to this process's uid or to C<owner_uid> (the uid a broker service runs as) and be writable by
nobody else, or the constructor croaks (docs/protocol.md, the reader rules). A
shm selector picks at the speed of a local one, and checks the published generation (one memory
load) on each pick to follow reloads.

Every other argument croaks, as do contradictory ones (C<broker> with C<servers>, C<spec> or
C<shm_dir>; C<shm> or C<timeout> without C<broker>; C<owner_uid> without C<shm_dir>; no C<ring>). A failure croaks with the core's
message, e.g.

  samering broker /run/samering.sock: connect: No such file or directory
  samering broker /run/samering.sock: no_such_ring: no ring named "main"
  the broker at /run/samering.sock publishes no shared memory (start it with --shm-dir)
  /dev/shm/samering/main.ctl: No such file or directory

=head2 pick

  my $server = $ring->pick($key);

The C<"host:port"> of the server for C<$key>, exactly as written in the spec (or the server list),
or C<undef> if the flavor refuses the key: none of C<cmf>, C<cache-memcached>, C<gomemcache>
refuses any key; C<libmemcached>, C<twemproxy> and C<nginx> refuse the empty key, and
C<libmemcached> and C<twemproxy> keys longer than they accept. A refused key is not an error (no
croak), so that C<pick_multi> can answer for the other keys.

The value returned is the selector's own read-only string for that server (that is why a pick
allocates nothing): assigning it copies it as usual (C<my $s = $ring-E<gt>pick($k)>), but
modifying it in place through an alias, as in C<$_ .= "x" for $ring-E<gt>pick($k)>, croaks
with "Modification of a read-only value".

On a broker or shm selector the string is that of the generation of the ring that answered:
after a reload a key that moved returns its new server. Strings returned before the reload keep
their value. A broker selector croaks when the broker cannot answer (see L</ERRORS>).

=head2 pick_index

  my $i = $ring->pick_index($key);

The index of that server in C<< $ring->servers >> (0-based), or C<undef> for a refused key.

=head2 pick_multi

  my @servers = $ring->pick_multi(@keys);

C<pick> for each key in one XS call: one C<"host:port"> (or C<undef>) per key, in order, as the
same read-only strings C<pick> returns. For many keys this costs well under a separate C<pick>
per key.

On a broker selector this is one round trip per batch (PICK_MANY), the way to pick many keys; a
key longer than 65,535 bytes cannot be sent in a batch and croaks (memcached keys are at most 250).

=head2 servers

  my @servers = $ring->servers;
  my $count   = $ring->servers;     # scalar context: the number of servers

The C<"host:port"> of every server, in spec order (a pick index refers to this list).

On a broker or shm selector: the servers of the newest generation the selector has seen.

=head2 flavor

The flavor's name, e.g. C<"cmf">.

=head2 generation

  my $gen = $ring->generation;

The generation of the ring the selector last saw: C<0> for a local selector. A broker numbers each
ring's generations from 1 and adds one with every reload that changed the ring. A broker selector
learns a new generation from the reply to a pick; a shm selector reads the published one, so
C<generation> itself may move it on.

=head2 source

C<"local">, C<"broker"> or C<"shm">: where the selector's answers come from.

=head1 SOURCES

=over 4

=item local (C<spec>, C<json>, C<servers>)

The ring is built in the process. Nothing changes it; C<generation> is 0.

=item broker (C<broker>)

Asks C<samering-broker> over its socket: a round trip per C<pick> (a few to tens of
microseconds), one per batch for C<pick_multi>, which is the way to pick many keys. Each reply
carries the ring's generation; when it is new, the selector fetches the new server list once. A
connection that breaks (the broker restarted) is reopened by the next call. For runtimes and
deployments where a local ring is not wanted (the broker owns the spec and its reloads).

=item shm (C<shm_dir>, or C<broker> with C<shm =E<gt> 1>)

Maps the immutable ring image the broker publishes (C<DIR/RING.ctl> and C<DIR/RING.GEN.img>)
read-only and picks locally, as fast as a local selector; it follows reloads through the control
file. It keeps answering from its mapping when the broker is gone, and does not need the broker's
socket once made. For prefork servers that must follow live reloads.

=back

=head1 ERRORS

The constructor croaks with the core's message (the caller's file and line are appended).

A key the flavor refuses is not an error: C<pick> and C<pick_index> return C<undef> and
C<pick_multi> has C<undef> in its place, for every source.

A broker selector croaks from C<pick>, C<pick_index> and C<pick_multi> when the broker cannot
answer: it is not running or the connection broke (and could not be reopened), it did not answer
within C<timeout>, it answered with an error, or its reply was malformed. The message is
C<"SameRing::Selector: "> followed by the core's (C<selector_last_error>), e.g.

  SameRing::Selector: samering broker /run/samering.sock: connect: Connection refused at app.pl line 12.

The selector stays usable: the next call connects again, so C<eval> around a pick and a retry
later (or a fallback to a local selector) is all a caller needs. A shm selector does not croak
from a pick: if a newly published image is missing or corrupt it keeps answering from the one it
has.

=head1 KEYS ARE BYTES

A key is hashed as the bytes Perl stores for it, which is what Cache::Memcached::Fast sends on the
wire and hashes: a string without the UTF-8 flag is its bytes, a string with the UTF-8 flag is its
UTF-8 encoding. So C<"\x{263A}"> and C<Encode::encode_utf8("\x{263A}")> go to the same server.
A key that is not a string is used as Perl stringifies it (C<42> is C<"42">; C<undef> is the
empty key, with the usual warning).
The caller's scalar is never changed (it is not downgraded or encoded in place).

As in CMF, a character string whose characters are all below 256 picks by its internal form: the
same text may be stored with or without the UTF-8 flag and then hashes differently (C<"\xE9">
is one byte, the upgraded C<"\xE9"> two). Encode keys to bytes yourself
(C<utf8::encode>, C<Encode::encode_utf8>) when their origin varies.

=head1 FORK AND THREADS

The module starts no thread and installs no signal handler.

A local selector holds no descriptor: build it once in a parent and use it in every forked child
(prefork servers). A shm selector holds read-only mappings, which stay valid in children; it keeps
no descriptor open. A broker selector holds a connection, and remembers the process that opened
it: in a forked child the first call closes the inherited descriptor (without sending anything on
it, so the parent's connection is untouched) and opens the child's own. So a broker or shm
selector made before C<fork()> works unchanged in every child, and children never read each
other's replies.

Local selectors may be used from several ithreads; a cloned interpreter shares the immutable ring
and frees it with the last user. A broker or shm selector owns a connection or a mapping that
follows reloads, which one thread at a time may use: a thread that uses the clone it got of one
croaks ("this broker selector belongs to the thread that made it"); make one per thread.

=head1 SEE ALSO

The samering project: the spec format (F<docs/spec-format.md>), the C API
(F<samering/selector.h>), the broker's protocol and files (F<docs/protocol.md>), the parity vectors
its tests check against.
L<Cache::Memcached::Fast>, L<Cache::Memcached>.

=head1 LICENSE

This library is free software; you can redistribute it and/or modify it under the same terms as
Perl itself.

=cut
