package Cache::Memcached::SameRing;

use v5.14;
use warnings;

# This package's symbol table is Cache::Memcached::Fast 0.28's, name for name (its
# t/perl-namespace.t checks it): the methods are XSUBs (SameRing.xs), the helpers are lexical,
# and `use Storable;` imports store/retrieve here as it does in Fast.pm.
use Carp           ();
use Compress::Zlib ();
use Storable;
use XSLoader;
require SameRing::Selector;    # builds the ring spec (SameRing::Selector::_spec_json)

our $VERSION = '0.01';

# Each object's constructor arguments, for CLONE (CMF keeps the same table).
my %instance;

my %known_args = map { $_ => 1 } qw(
    check_args close_on_error compress_algo compress_methods compress_ratio
    compress_threshold connect_timeout failure_timeout hash_namespace
    io_timeout ketama_points max_failures max_size namespace nowait
    select_timeout serialize_methods servers utf8
);

sub new {
    my ( $class, $conf ) = @_;

    # CMF's warnings, at the caller's line.
    unless ( lc( $conf->{check_args} // '' ) eq 'skip' ) {
        Carp::carp('compress_algo was removed in 0.08, use compress_methods')
            if exists $conf->{compress_algo};
        if ( my @unknown = grep { !$known_args{$_} } sort keys %$conf ) {
            local $" = ', ';
            Carp::carp("Unknown arguments: @unknown");
        }
    }

    # CMF's defaults, stored into the caller's hash as CMF does. The compressed bytes are gzip
    # (RFC 1952) and the serialized ones Storable's: the formats CMF writes and reads.
    $conf->{compress_methods} //= [
        sub { ${ $_[1] } = Compress::Zlib::memGzip( ${ $_[0] } ) },
        sub { ${ $_[1] } = Compress::Zlib::memGunzip( ${ $_[0] } ) },
    ];
    $conf->{serialize_methods} //= [ \&Storable::nfreeze, \&Storable::thaw ];

    my $memd    = $class->_new($conf);
    my $context = [ $memd, $conf ];
    _weaken( $context->[0] );
    $instance{$$memd} = $context;
    return $memd;
}

# ithreads: a new thread gets its own object, built from the same arguments, with no connection
# (the parent's C state stays the parent's).
sub CLONE {
    my $class = shift;
    for my $context ( delete @instance{ keys %instance } ) {
        my ( $memd, $conf ) = @$context;
        my $memd2 = $class->_new($conf);
        $instance{ $$memd = $$memd2 } = $context;
        $$memd2 = 0;    # its C state now belongs to $memd
    }
}

sub DESTROY {
    my $memd = shift;
    return unless $$memd;
    delete $instance{$$memd};
    _destroy($memd);
}

XSLoader::load( __PACKAGE__, $VERSION );

1;

__END__

=encoding UTF-8

=head1 NAME

Cache::Memcached::SameRing - Cache::Memcached::Fast's API, with keys placed by samering

=head1 SYNOPSIS

  # was: use Cache::Memcached::Fast; ... Cache::Memcached::Fast->new({...})
  use Cache::Memcached::SameRing;

  my $memd = Cache::Memcached::SameRing->new({
      servers => [ { address => '10.0.0.1:11211', weight => 2.5 },
                   '10.0.0.2:11211',
                   { address => '10.0.0.3:11211', noreply => 1 } ],
      namespace          => 'my:',
      ketama_points      => 150,
      connect_timeout    => 0.2,
      io_timeout         => 0.5,
      compress_threshold => 100_000,
      max_failures       => 3,
      failure_timeout    => 2,
      nowait             => 1,
      utf8               => 1,
  });

  $memd->set( 'user:42', { name => 'Ann' } );    # serialized as CMF does
  my $user = $memd->get('user:42');
  my $hits = $memd->get_multi(qw(a b c));        # { a => ..., c => ... }
  $memd->incr('counter');
  $memd->delete('user:42');

=head1 DESCRIPTION

A drop-in replacement for L<Cache::Memcached::Fast> 0.28: the same constructor arguments, the
same methods with the same answers (including their list / scalar / void context behaviour), and
values stored with the same flags, so a program changes one name and keeps working.

What changes is underneath. Every key is routed by samering's ring of flavor C<cmf> (built from
C<servers>, C<ketama_points>, C<namespace> and C<hash_namespace>, as
C<< SameRing::Selector->new(flavor => 'cmf', ...) >> builds it): the very node
Cache::Memcached::Fast picks, in its ketama mode and in its default Cache::Memcached-compatible
mode, and the node that every other runtime sharing the ring (Go, C, Python, the samering broker)
picks. The I/O is done by samering's C client (libmemcached underneath) through XS.

During a migration both modules can run side by side on the same servers: each finds the keys
the other wrote, and reads its values.

=head2 Values: the same bytes and flags as Cache::Memcached::Fast

=over

=item * A reference is serialized with C<serialize_methods> (default Storable's C<nfreeze> /
C<thaw>) and flagged C<0x1>.

=item * A value of C<compress_threshold> bytes or more is compressed with C<compress_methods>
(default gzip through L<Compress::Zlib>) when the result is at most C<compress_ratio> of the size,
and flagged C<0x2>.

=item * A character string is stored as its UTF-8 bytes and flagged C<0x4> when C<utf8> is on;
with C<utf8> off it is downgraded, and a wide character croaks (C<Wide character in subroutine
entry>), as in CMF. On retrieval, C<0x4> values are decoded only with C<utf8> on.

=item * A value that cannot be decompressed or deserialized is answered as a miss.

=back

=head1 CONSTRUCTOR

=head2 new

  my $memd = Cache::Memcached::SameRing->new(\%args);

Takes Cache::Memcached::Fast's arguments (see its documentation for each):

=over

=item I<servers>

C<"host:port">, C<< { address => "host:port", weight => $w, noreply => 1 } >> or
C<[ "host:port", $w ]>. Weights may be fractional, as in CMF. The host is used exactly as
written for the ring (CMF hashes the address text) and resolved only to connect. The messages
for a bad element are CMF's (C<server should have { address =E<gt> $addr }>, C<Server weight
should be positive>, ...). An empty or missing list is accepted, as in CMF: every command then
fails.

=item I<namespace>, I<hash_namespace>, I<ketama_points>

As in CMF. The namespace must be printable ASCII without spaces, at most 127 bytes (what
libmemcached can send).

=item I<connect_timeout>, I<io_timeout> (or I<select_timeout>)

Seconds, fractions allowed; 0 disables the timeout. Defaults 0.25 and 1.0, as in CMF.

=item I<max_failures>, I<failure_timeout>

As in CMF: after I<max_failures> failures (a refused or failed connect, a timeout) within
I<failure_timeout> seconds (default 10), the server is not contacted for I<failure_timeout>
seconds; its keys fail meanwhile, they are never sent elsewhere. I<max_failures> 0 (the default)
never leaves a server alone.

=item I<compress_threshold>, I<compress_ratio>, I<compress_methods>, I<serialize_methods>, I<utf8>, I<max_size>

As in CMF (defaults -1, 0.8, gzip, Storable, off, 1 MB). A value longer than I<max_size> after
serialization and compression is not sent, and its command answers C<undef>.

=item I<nowait>

As in CMF: a command in void context returns without waiting for its answer. Here it is sent with
memcached's C<noreply>, as for a server given with C<< noreply => 1 >>; L</nowait_push> waits
until the server has processed them.

=item I<close_on_error>

Accepted. There is nothing to switch: libmemcached closes a connection whose reply it cannot
parse.

=item I<check_args>

C<'skip'> silences the warning about unknown arguments, as in CMF.

=back

=head1 METHODS

All of them are CMF's. C<$res> below is CMF's answer for one command: true (C<1>) for a positive
reply, false (C<"">) for a negative one (not stored, not found, changed since C<gets>), and
C<undef> (nothing, in list context) for an error: a server that cannot be reached, a timeout, a
key memcached cannot take (empty, more than 250 bytes with the namespace, a space or control
character), a value over I<max_size>. In void context a command returns nothing.

=head2 set, add, replace, append, prepend

  $res = $memd->set($key, $value [, $expiration_time]);

Store C<$value> (any scalar or reference) under C<$key>: always (C<set>), only when the key is
absent (C<add>), only when present (C<replace>), or add to the end / the start of the present
value (C<append>, C<prepend>; the expiration time is not changed).

=head2 cas

  $res = $memd->cas($key, $cas, $value [, $expiration_time]);

C<set> only if the item is unchanged since the C<gets> / C<gats> that returned C<$cas>.

=head2 set_multi, add_multi, replace_multi, append_multi, prepend_multi, cas_multi

  @res = $memd->set_multi([$key, $value, $exptime], [$key2, $value2], ...);
  $res = $memd->set_multi(...);    # { $key => $res, ... }
  $memd->cas_multi([$key, $cas, $value, $exptime], ...);

One command per element; in list context one answer per argument, in scalar context a hash
reference of the defined answers. Every element is checked and encoded before the first command
is sent: a malformed one (not an array, a missing key or value) croaks with nothing stored.

=head2 get, gets

  $value = $memd->get($key);
  [$cas, $value] = @{ $memd->gets($key) };

The value, or nothing for a miss or an error.

=head2 get_multi, gets_multi

  $hits = $memd->get_multi(@keys);    # { $key => $value, ... }

Requests to every server are sent before any reply is read. Misses and errors are left out.

=head2 gat, gats, gat_multi, gats_multi

  $value = $memd->gat($expiration_time, $key);
  $hits  = $memd->gat_multi($expiration_time, @keys);

Get the key(s) and set their expiration time (C<gats> with the cas). libmemcached 1.1.4 has no
C<gat> command: this is a C<get> / C<gets>, then a C<touch> of each key found; the same answers
(also when the new expiration time is in the past: the value read is returned and the item
expires), two round trips instead of one for a hit, and not atomic (a value written between the
two gets the new expiration time).

=head2 incr, decr, incr_multi, decr_multi

  $new = $memd->incr($key [, $delta]);
  @new = $memd->incr_multi($key, [$key2, $delta2], ...);

The new value (C<"0E0"> for zero: true, and 0 as a number), C<""> when the key is missing,
C<undef> for an error (the stored value is not a number, say).

=head2 delete, remove, delete_multi

  $res = $memd->delete($key);
  @res = $memd->delete_multi(@keys);

C<remove> is C<delete>. A non-zero delay (the old C<($key, $delay)> form) is ignored with a
warning, as in CMF.

=head2 touch, touch_multi

  $res = $memd->touch($key [, $expiration_time]);
  @res = $memd->touch_multi([$key, $exptime], [$key2], ...);

Set the expiration time without fetching the value (always waits for the reply).

=head2 flush_all

  $res = $memd->flush_all([$delay]);    # { "host:port" => 1, ... }

C<flush_all> on every server, with the delay spread over them as CMF does (30 seconds over three
servers: 30, 15, 0). The hash has the servers that answered C<OK>, under their address as given.

=head2 nowait_push

Waits until every command sent without waiting (I<nowait>, I<noreply>) was processed by its
server. Returns nothing.

=head2 server_versions

  $versions = $memd->server_versions;    # { "host:port" => "1.6.18", ... }

The servers that answered, under their address as given.

=head2 namespace

  $old = $memd->namespace;
  $old = $memd->namespace($new);

The namespace, and with an argument set a new one (returning the old). With I<hash_namespace>
on, the ring is rebuilt so that keys are placed by the new namespace, as in CMF. A namespace the
client cannot send croaks, and the old one stays.

=head2 enable_compress

  $memd->enable_compress($on);

Turn compression on or off (when I<compress_threshold> is positive), as in CMF.

=head2 disconnect_all

Close every connection; the next command reconnects.

=head1 FORK AND THREADS

An object made before C<fork> works in the children: a child's first command notices the fork,
drops the parent's connections without writing to them, and opens its own (no
C<disconnect_all> needed, though it does no harm). Each ithread gets its own object, built from
the same arguments, with its own connections, as in CMF. One object is used by one thread at a
time.

=head1 DIFFERENCES FROM Cache::Memcached::Fast

=over

=item * Servers are C<host:port>; Unix socket paths are not supported (they have no place in a
ring spec), and an address given twice is refused (a ring lists each server once).

=item * The namespace must be printable ASCII (libmemcached's rule).

=item * C<gat> / C<gats> are C<get> + C<touch> (two round trips, not atomic).

=item * The C<_multi> storage, arithmetic, delete and touch calls wait for each reply in turn
(CMF pipelines them); C<get_multi> is pipelined as in CMF. In void context with I<nowait> they
are all sent at once.

=item * I<nowait> uses memcached's C<noreply>; I<close_on_error> changes nothing.

=back

=head1 SEE ALSO

L<Cache::Memcached::Fast>, L<SameRing::Selector>, the samering project (F<DESIGN.md>, the
C<cmf> flavor and its parity vectors).

=head1 LICENSE

This library is free software; you can redistribute it and/or modify it under the same terms as
Perl itself.

=cut
