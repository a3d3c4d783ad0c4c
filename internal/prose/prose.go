// Package prose formats the numbers in sentences people read during an
// incident: counts with thousands separators, as the tables print them,
// and nouns and verbs that agree with the count before them ("1 SYN was",
// "2 SYNs were").
package prose

import (
	"fmt"
	"strconv"
	"strings"
)

// Count formats n with thousands separators: 1,234,567.
func Count(n int64) string {
	if n < 0 {
		if n == -n { // the smallest int64 has no positive counterpart
			return strconv.FormatInt(n, 10)
		}
		return "-" + Count(-n)
	}
	s := strconv.FormatInt(n, 10)
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + len(s)/3)
	head := len(s) % 3
	if head == 0 {
		head = 3
	}
	b.WriteString(s[:head])
	for i := head; i < len(s); i += 3 {
		b.WriteByte(',')
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

// Plain marks a number that is a setting or an identifier, not a count
// (a sysctl, a backlog typed into a config file): Sayf prints it as it is.
type Plain int64

// Sayf is fmt.Sprintf for sentences about counts. Arguments of type int
// and int64 are counts, printed with thousands separators for %d (ports
// are uint16, settings are Plain: they print as they are). The format may
// make words agree with the count of the last %d before them: {s} is "s"
// unless that count is 1 ("%d SYN{s}"), {one|many} picks one of two
// ("%d {was|were}"). Braces without a bar or other than {s} stay.
func Sayf(format string, args ...any) string {
	out := make([]any, len(args))
	for i, a := range args {
		switch v := a.(type) {
		case int:
			out[i] = grouped(v)
		case int64:
			out[i] = grouped(v)
		case Plain:
			out[i] = int64(v)
		default:
			out[i] = a
		}
	}
	return fmt.Sprintf(agree(format, args), out...)
}

// grouped prints with thousands separators for %d and %v, and as an int64
// otherwise.
type grouped int64

func (g grouped) Format(f fmt.State, verb rune) {
	if (verb == 'd' || verb == 'v') && !f.Flag('+') && !f.Flag('0') {
		if w, ok := f.Width(); ok {
			fmt.Fprintf(f, "%*s", w, Count(int64(g)))
			return
		}
		f.Write([]byte(Count(int64(g))))
		return
	}
	fmt.Fprintf(f, fmt.FormatString(f, verb), int64(g))
}

// agree replaces {s} and {one|many} in format by the form the count of
// the last %d before them takes. Percent signs in the chosen words are
// doubled so that they stay text.
func agree(format string, args []any) string {
	if strings.IndexByte(format, '{') < 0 {
		return format
	}
	var b strings.Builder
	b.Grow(len(format))
	arg := 0
	last := int64(-1)
	for i := 0; i < len(format); i++ {
		c := format[i]
		switch c {
		case '%':
			// Flags, width and precision, then the verb (no argument
			// indexes or * in our sentences).
			j := i + 1
			for j < len(format) && strings.IndexByte("+-# 0123456789.", format[j]) >= 0 {
				j++
			}
			if j >= len(format) {
				b.WriteString(format[i:])
				return b.String()
			}
			if format[j] != '%' {
				if format[j] == 'd' && arg < len(args) {
					last = countOf(args[arg])
				}
				arg++
			}
			b.WriteString(format[i : j+1])
			i = j
			continue
		case '{':
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				break
			}
			inner := format[i+1 : i+end]
			one, many, ok := strings.Cut(inner, "|")
			if !ok {
				if inner != "s" {
					break
				}
				one, many = "", "s"
			}
			word := many
			if last == 1 {
				word = one
			}
			b.WriteString(strings.ReplaceAll(word, "%", "%%"))
			i += end
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// countOf is an integer argument's value, or -1.
func countOf(a any) int64 {
	switch v := a.(type) {
	case int:
		return int64(v)
	case int64:
		return v
	case int32:
		return int64(v)
	case uint32:
		return int64(v)
	case uint16:
		return int64(v)
	case Plain:
		return int64(v)
	}
	return -1
}
