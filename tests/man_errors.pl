#!/usr/bin/env perl
# Every error code a public function can return is on its man page.
#
# An approximation of "can return", read from the sources with regular
# expressions rather than a compiler:
#  - a function's own codes are the -EXXX constants in its body, except
#    where it only compares with one (`== -EPIPE`, `case -EPIPE:`);
#  - it also returns what the library's internal functions it calls return
#    (transitively; calls through function pointers are not followed, nor
#    calls whose result is dropped, `foo(...);` as a statement), minus the
#    codes it compares with, which it is taken to translate;
#  - calls to other public functions are not followed: a page says "the
#    errors of actor_send(3)" for those, and a page that names another
#    page in its RETURN VALUE or ERRORS sections gets that page's codes.
# A page's codes are the EXXX words of its RETURN VALUE and ERRORS
# sections. A code missing there fails the test, as a TAP line per
# function. The reverse (a documented code the code cannot return) is not
# checked: codes from the kernel, the transport or a peer pass through
# paths this reading cannot see.
use strict;
use warnings;

my $srcdir = $ENV{srcdir} // '.';
my @dirs = qw(api sched cluster transport mailbox util store);
my (%body, %file_of, %public);

for my $h (glob "$srcdir/include/actor/*.h") {
	open my $fh, '<', $h or die "$h: $!";
	local $/;
	my $text = <$fh>;
	$public{$1} = 1 while $text =~ /ACTOR_API\s+int\s+(actor_\w+)\s*\(/g;
}

# Function bodies: a definition starts at column 0 and ends at a `}` there.
for my $f (map { glob "$srcdir/$_/*.[ch]" } @dirs) {
	open my $fh, '<', $f or die "$f: $!";
	my ($name, $text);
	while (my $line = <$fh>) {
		if (!defined $name && $line =~ /^(static\s+)?(?:inline\s+)?[a-z_][\w ]*?[\s*](\w+)\(/ &&
		    $line !~ /;\s*$/) {
			# A static function is known by its file too: two files may
			# each have their own `failure` or `flush`.
			($name, $text) = ($1 ? "$f:$2" : $2, '');
			$file_of{$name} = $f;
		}
		next unless defined $name;
		$text .= $line;
		# A prototype over several lines ends with `;` before any `{`.
		if ($text !~ /\{/ && $line =~ /;\s*$/) {
			undef $name;
			next;
		}
		if ($line =~ /^}/) {
			$body{$name} .= $text;
			undef $name;
		}
	}
}

sub own_codes {
	my ($text) = @_;
	my %c;
	while ($text =~ /(==|!=|case)?\s*-(E[A-Z0-9]+)\b/g) {
		$c{$2} = 1 unless defined $1;
	}
	return \%c;
}

sub compared {
	my ($text) = @_;
	my %c;
	$c{$2} = 1 while $text =~ /(==|!=|case)\s*-(E[A-Z0-9]+)\b/g;
	return \%c;
}

my %memo;
sub codes_of {
	my ($fn, $seen) = @_;
	return $memo{$fn} if $memo{$fn};
	return {} if $seen->{$fn}++;
	(my $text = $body{$fn} // '') =~ s{/\*.*?\*/}{}gs;
	my %c = %{ own_codes($text) };
	my $handled = compared($text);
	(my $inner = $text) =~ s/^[^(]*\(//;	# not the definition's own name
	while ($inner =~ /(\S?)\s*\b(\w+)\s*\(/g) {
		my ($before, $callee) = ($1, $2);
		my $local = "$file_of{$fn}:$callee";
		$callee = $local if exists $body{$local};
		next if $callee eq $fn || !exists $body{$callee} || $public{$callee};
		# A call that is a statement of its own discards its result.
		next if $before =~ /^[;{})]$/;
		for my $e (keys %{ codes_of($callee, $seen) }) {
			$c{$e} = 1 unless $handled->{$e};
		}
	}
	return $memo{$fn} = \%c;
}

sub page_codes {
	my ($page, $seen) = @_;
	return {} if $seen->{$page}++;
	my $path = "$srcdir/man/$page.3";
	open my $fh, '<', $path or return undef;
	local $/;
	my $text = <$fh>;
	return page_codes($1, $seen) if $text =~ /^\.so man3\/(\w+)\.3/m;
	my %c;
	while ($text =~ /^\.SH (RETURN VALUE|ERRORS)\n(.*?)(?=^\.SH |\z)/msg) {
		my $sect = $2;
		$c{$1} = 1 while $sect =~ /\b(E[A-Z0-9]{2,})\b/g;
		while ($sect =~ /^\.BR (actor_\w+) \(3\)/mg) {
			my $other = page_codes($1, $seen);
			%c = (%c, %$other) if $other;
		}
	}
	return \%c;
}

my @fns = sort keys %public;
my $n = 0;
my $failed = 0;
print "1..", scalar @fns, "\n";
for my $fn (@fns) {
	$n++;
	if (!exists $body{$fn}) {
		print "ok $n - $fn # SKIP no definition found\n";
		next;
	}
	my $doc = page_codes($fn, {});
	if (!defined $doc) {
		print "not ok $n - $fn: no man page\n";
		$failed = 1;
		next;
	}
	my @missing = grep { !$doc->{$_} } sort keys %{ codes_of($fn, {}) };
	if (@missing) {
		print "not ok $n - $fn: man/$fn.3 lacks @missing\n";
		$failed = 1;
	} else {
		print "ok $n - $fn\n";
	}
}
exit $failed;
