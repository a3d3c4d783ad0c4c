package prose

import (
	"math"
	"testing"
)

func TestCount(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{
		{0, "0"}, {7, "7"}, {999, "999"}, {1000, "1,000"}, {12345, "12,345"},
		{123456, "123,456"}, {1234567, "1,234,567"}, {-1234, "-1,234"}, {-12, "-12"},
		{math.MaxInt64, "9,223,372,036,854,775,807"}, {math.MinInt64, "-9223372036854775808"},
	} {
		if got := Count(c.n); got != c.want {
			t.Errorf("Count(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}

func TestSayf(t *testing.T) {
	for _, c := range []struct {
		format string
		args   []any
		want   string
	}{
		{"%d SYN{s} {was|were} dropped", []any{1}, "1 SYN was dropped"},
		{"%d SYN{s} {was|were} dropped", []any{21257}, "21,257 SYNs were dropped"},
		{"%d SYN{s} {was|were} dropped", []any{0}, "0 SYNs were dropped"},
		{"%d of %d attempt{s}", []any{5, 1}, "5 of 1 attempt"},
		// Words agree with the last %d, not with a %s after it.
		{"%d address{|es} (%s)", []any{1, "x"}, "1 address (x)"},
		{"%d %s: {it|they}", []any{2, "x"}, "2 x: they"},
		// Ports (uint16) and settings (Plain) print as they are.
		{"port %d, somaxconn %d, %d drops", []any{uint16(50000), Plain(65535), int64(65535)}, "port 50000, somaxconn 65535, 65,535 drops"},
		{"100%% of %d", []any{1000}, "100% of 1,000"},
		{"{not a token} %d{s}", []any{1}, "{not a token} 1"},
		{"%5d|%x", []any{1000, 255}, "1,000|ff"},
		{"%d{%|percent}", []any{1}, "1%"},
	} {
		if got := Sayf(c.format, c.args...); got != c.want {
			t.Errorf("Sayf(%q, %v) = %q, want %q", c.format, c.args, got, c.want)
		}
	}
}
