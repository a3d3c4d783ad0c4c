package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synq/synq/capture"
	"github.com/synq/synq/report"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module or VCS information of the build is used.
var version = ""

// buildInfo is what the binary knows of how it was built.
type buildInfo struct {
	Version  string // module version, -X main.version, or dev-<commit>
	Commit   string // VCS revision ("" when built without VCS stamping)
	Date     string // commit time, RFC 3339
	Modified bool   // the work tree had local changes
	Go       string // Go toolchain
}

func readBuildInfo() buildInfo {
	b := buildInfo{Version: version}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b.withDefault()
	}
	b.Go = bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.time":
			b.Date = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	if b.Version == "" {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			b.Version = v
		}
	}
	return b.withDefault()
}

func (b buildInfo) withDefault() buildInfo {
	if b.Version == "" {
		b.Version = "dev"
		if len(b.Commit) >= 12 {
			b.Version = "dev-" + b.Commit[:12]
		}
	}
	return b
}

func buildVersion() string { return readBuildInfo().Version }

// String is the version line: "synq v1.2.0 (commit 0123456789ab, 2026-12-02T15:00:00Z, go1.26.8)".
func (b buildInfo) String() string {
	var parts []string
	if b.Commit != "" {
		c := b.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		if b.Modified {
			c += ", modified"
		}
		parts = append(parts, "commit "+c)
	}
	if b.Date != "" {
		parts = append(parts, b.Date)
	}
	if b.Go != "" {
		parts = append(parts, b.Go)
	}
	if len(parts) == 0 {
		return "synq " + b.Version
	}
	return "synq " + b.Version + " (" + strings.Join(parts, ", ") + ")"
}

// run is main without the os.Exit: it returns the exit code.
func run(args []string, ios *IOStreams) int {
	ios.args = append([]string{"synq"}, args...)
	root := newCmdRoot(ios, nil)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err == nil {
		return exitOK
	}
	code := exitCodeOf(err)
	if strings.HasPrefix(err.Error(), "unknown command") || strings.HasPrefix(err.Error(), "unknown flag") {
		// cobra's own argument errors carry no code of ours.
		code = exitUsage
	}
	// Errors quote file names and input: no escape sequence reaches the
	// terminal. Line breaks are kept (cobra's "Did you mean this?"
	// suggestions are on lines of their own).
	lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = report.Sanitize(strings.ReplaceAll(l, "\t", "  "))
	}
	fmt.Fprintf(ios.ErrOut, "synq: %s\n", strings.Join(lines, "\n"))
	if hint := nextStep(err, code, cmd); hint != "" {
		fmt.Fprintln(ios.ErrOut, hint)
	}
	return code
}

// newCmdRoot builds the command tree. analyzeRunF, when not nil, replaces
// analyze's run function (flag-parsing tests).
func newCmdRoot(ios *IOStreams, analyzeRunF func(*AnalyzeOptions) error) *cobra.Command {
	root := &cobra.Command{
		Use:   "synq",
		Short: "Find out why TCP connection attempts to a Linux server are dropped",
		Long: `synq reads a packet capture, follows every TCP handshake, and says what
happened to each connection attempt and on which listener: completed,
SYN never answered, SYN-ACK never acknowledged, handshake ACK ignored,
reset, and so on.

` + exitCodeHelp,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       buildVersion(),
	}
	root.SetIn(ios.In)
	root.SetOut(ios.Out)
	root.SetErr(ios.ErrOut)
	root.SetFlagErrorFunc(flagErrorIsUsage)
	root.AddCommand(
		NewCmdAnalyze(ios, osOpen, analyzeRunF),
		NewCmdLive(ios, nil),
		newCmdVersion(ios),
		newCmdMan(ios),
	)
	return root
}

func osOpen(name string) (io.ReadCloser, error) { return os.Open(name) }

// nextStep is the line that follows an error: what to do about it.
func nextStep(err error, code int, cmd *cobra.Command) string {
	switch {
	case code == exitUsage && cmd != nil:
		return fmt.Sprintf("Run '%s --help' for usage.", cmd.CommandPath())
	case errors.Is(err, capture.ErrNotCapture):
		return "Give a capture as tcpdump -w writes it (pcap or pcapng, gzip-compressed or not): tcpdump -i any -w incident.pcap 'tcp port PORT or icmp'"
	case errors.Is(err, capture.ErrUnsupportedLinkType):
		return "Capture again with tcpdump -i any (Linux cooked headers), or -i IFACE on an Ethernet interface: synq decodes those."
	case errors.Is(err, capture.ErrNeedPrivilege):
		return "Run it as root, or give the binary the capability: sudo setcap cap_net_raw=eip $(command -v synq)"
	case code == exitInput && errors.Is(err, fs.ErrNotExist):
		return "Check the path; synq analyze --help lists what it reads."
	}
	return ""
}

// flagErrorIsUsage gives flag errors (unknown flag, a bad value) the usage
// exit code; subcommands inherit it from the root.
func flagErrorIsUsage(_ *cobra.Command, err error) error { return withCode(exitUsage, err) }

func newCmdVersion(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print synq's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintln(ios.Out, readBuildInfo())
			return err
		},
	}
}
