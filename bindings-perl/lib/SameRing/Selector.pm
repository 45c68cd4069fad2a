package SameRing::Selector;

use strict;
use warnings;

our $VERSION = '0.01';

use Carp ();
use Scalar::Util ();
use overload ();
use XSLoader;

XSLoader::load('SameRing::Selector', $VERSION);

# pick, pick_index, pick_multi, servers and flavor are XSUBs (Selector.xs): a Perl wrapper sub
# would cost about as much again as the pick itself.

# The types the core expects for the options of the flavors it knows (docs/spec-format.md).
# Perl values are converted the way Cache::Memcached::Fast's Fast.xs reads them (SvTRUE for
# flags, the string for names); an option not listed is passed as a number when it looks like
# one and as a string otherwise, and the core names it if it is unknown.
my %BOOL_OPTION   = map { $_ => 1 } qw(hash_namespace repeat_by_weight servers_first);
my %STRING_OPTION = map { $_ => 1 } qw(namespace distribution hash hash_tag);
my %INT_OPTION    = map { $_ => 1 } qw(ketama_points);
my %SERVER_KEY    = map { $_ => 1 } qw(address weight noreply name);

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
    my @sources = grep { exists $args{$_} } qw(spec json servers);
    Carp::croak('SameRing::Selector->new: give one of spec => FILE, json => TEXT, '
                . 'or flavor => NAME, servers => [...]') if @sources != 1;
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

  my $where = $ring->pick('user:42');          # "10.0.0.2:11211"
  my $index = $ring->pick_index('user:42');    # 1
  my @where = $ring->pick_multi(@keys);        # one call for many keys
  my @all   = $ring->servers;                  # ("10.0.0.1:11211", ...), in spec order
  my $name  = $ring->flavor;                   # "cmf"

=head1 DESCRIPTION

A memcached cluster shared by several clients only works when each of them sends a key to the
same server. SameRing::Selector answers "which server gets this key" exactly as a given client
library does, so that a Perl program can route keys the way a Go service using gomemcache does,
or follow a Cache::Memcached::Fast deployment without opening connections.

It is a thin XS layer over the samering C API (C<samering/selector.h>), which is linked into the
module statically. A selector is immutable once built: C<pick> allocates no string buffer, takes
no lock and is a single XS call (about the cost of calling an empty XS function).

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

=head2 pick_index

  my $i = $ring->pick_index($key);

The index of that server in C<< $ring->servers >> (0-based), or C<undef> for a refused key.

=head2 pick_multi

  my @servers = $ring->pick_multi(@keys);

C<pick> for each key in one XS call: one C<"host:port"> (or C<undef>) per key, in order, as the
same read-only strings C<pick> returns. For many keys this costs well under a separate C<pick>
per key.

=head2 servers

  my @servers = $ring->servers;
  my $count   = $ring->servers;     # scalar context: the number of servers

The C<"host:port"> of every server, in spec order (a pick index refers to this list).

=head2 flavor

The flavor's name, e.g. C<"cmf">.

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

A selector holds no descriptor and the module starts no thread: build it once in a parent and use
it in every forked child (prefork servers). Selectors may also be used from several ithreads; a
cloned interpreter shares the immutable ring and frees it with the last user.

=head1 SEE ALSO

The samering project: the spec format (F<docs/spec-format.md>), the C API
(F<samering/selector.h>), the parity vectors its tests check against.
L<Cache::Memcached::Fast>, L<Cache::Memcached>.

=head1 LICENSE

This library is free software; you can redistribute it and/or modify it under the same terms as
Perl itself.

=cut
