package SameRingTest;
# Helpers shared by the tests: where the parity vectors are, reading a vector file, key sets.
use strict;
use warnings;

use Exporter 'import';
use File::Spec;
use FindBin ();
use JSON::PP ();

our @EXPORT_OK = qw(vectors_dir vector_files read_vector random_keys cmf_servers_of);

# SAMERING_VECTORS_DIR, or fixtures/vectors of the samering tree this dist sits in.
sub vectors_dir {
    return $ENV{SAMERING_VECTORS_DIR} if defined $ENV{SAMERING_VECTORS_DIR} && length $ENV{SAMERING_VECTORS_DIR};
    return File::Spec->catdir($FindBin::Bin, File::Spec->updir, File::Spec->updir, 'fixtures', 'vectors');
}

sub vector_files {
    my $dir = vectors_dir();
    opendir my $dh, $dir or return;
    return map { File::Spec->catfile($dir, $_) } sort grep { /\.json\z/ } readdir $dh;
}

# Returns { doc => decoded file, spec_json => the "spec" value as its original bytes }.
# The spec is passed to the core as written (no decode/encode round trip that could change a
# number's digits).
sub read_vector {
    my ($path) = @_;
    open my $fh, '<:raw', $path or die "$path: $!\n";
    my $text = do { local $/; <$fh> };
    # decoded from the raw text, so every string holds the UTF-8 bytes of the file; downgraded so
    # that none carries the UTF-8 flag (SameRing::Selector would then encode it once more)
    my $doc = JSON::PP->new->decode($text);
    _downgrade($doc);
    $text =~ /"spec"\s*:\s*/g or die "$path: no \"spec\"\n";
    my $start = pos $text;
    my ($depth, $in_string, $i) = (0, 0, $start);
    for (; $i < length $text; ++$i) {
        my $c = substr $text, $i, 1;
        if ($in_string) {
            if ($c eq '\\') { ++$i } elsif ($c eq '"') { $in_string = 0 }
            next;
        }
        if ($c eq '"') { $in_string = 1 }
        elsif ($c eq '{' || $c eq '[') { ++$depth }
        elsif ($c eq '}' || $c eq ']') { last if --$depth == 0 }
    }
    die "$path: unbalanced spec\n" if $depth != 0;
    return { doc => $doc, spec_json => substr($text, $start, $i - $start + 1) };
}

sub _downgrade {    # in place: @_ and values() alias the document's scalars
    for (@_) {
        if    (ref $_ eq 'HASH')  { _downgrade(values %$_) }
        elsif (ref $_ eq 'ARRAY') { _downgrade(@$_) }
        elsif (defined $_ && !ref $_) { utf8::downgrade($_) }
    }
}

# The spec's servers as a Cache::Memcached::Fast server list: "host:port", or
# { address, weight, name } when the spec gives a weight or a (twemproxy) name.
sub cmf_servers_of {
    my ($spec) = @_;
    return [ map {
        my $addr = $_->{host} . ':' . (defined $_->{port} ? $_->{port} : 11211);
        my %more = map { defined $_->[1] ? @$_ : () } [ weight => $_->{weight} ], [ name => $_->{name} ];
        %more ? { address => $addr, %more } : $addr;
    } @{ $spec->{servers} } ];
}

# $n reproducible keys of printable, space-free bytes (memcached text protocol safe), 1..$max long.
sub random_keys {
    my ($n, $seed, $max) = @_;
    $max ||= 40;
    my $state = $seed || 1;
    my $rand = sub { $state = ($state * 1103515245 + 12345) % 2147483648; $state >> 8 };
    my @keys;
    for (1 .. $n) {
        my $len = 1 + $rand->() % $max;
        push @keys, join '', map { chr(0x21 + $rand->() % 94) } 1 .. $len;
    }
    return @keys;
}

1;
