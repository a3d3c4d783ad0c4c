package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synq/synq/report"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3";
// otherwise the module or VCS information of the build is used.
var version = ""

func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v := bi.Main.Version; v != "" && v != "(devel)" {
			return v
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

// run is main without the os.Exit: it returns the exit code.
func run(args []string, ios *IOStreams) int {
	root := newCmdRoot(ios, nil)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	// Errors quote file names and input: no escape sequence reaches the
	// terminal.
	fmt.Fprintf(ios.ErrOut, "synq: %s\n", report.Sanitize(err.Error()))
	if strings.HasPrefix(err.Error(), "unknown command") {
		// cobra's own argument errors carry no code of ours.
		return exitUsage
	}
	return exitCodeOf(err)
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
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return withCode(exitUsage, err)
	})
	root.AddCommand(
		NewCmdAnalyze(ios, osOpen, analyzeRunF),
		NewCmdLive(ios, nil),
		newCmdVersion(ios),
	)
	return root
}

func osOpen(name string) (io.ReadCloser, error) { return os.Open(name) }

func newCmdVersion(ios *IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print synq's version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			_, err := fmt.Fprintf(ios.Out, "synq %s\n", buildVersion())
			return err
		},
	}
}
