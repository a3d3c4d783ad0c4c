package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newCmdMan writes the man pages, generated from the command tree itself
// (cobra/doc), so that they say what --help says.
func newCmdMan(ios *IOStreams) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "man",
		Short: "Write synq's man pages (synq.1, synq-analyze.1, ...) into a directory",
		Example: `  synq man --dir /usr/local/share/man/man1 && man synq-analyze
  synq man --dir ./man`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return withCode(exitOutput, err)
			}
			// The page date: the commit's, so that a build makes the
			// same pages every time (SOURCE_DATE_EPOCH wins, as for any
			// reproducible build).
			header := &doc.GenManHeader{Title: "SYNQ", Section: "1", Source: "synq " + buildVersion(), Manual: "synq manual"}
			if _, set := os.LookupEnv("SOURCE_DATE_EPOCH"); !set { // cobra/doc reads it when Date is nil
				date := time.Now().UTC()
				if b := readBuildInfo(); b.Date != "" {
					if t, err := time.Parse(time.RFC3339, b.Date); err == nil {
						date = t
					}
				}
				header.Date = &date
			}
			if err := doc.GenManTree(cmd.Root(), header, dir); err != nil {
				return withCode(exitOutput, fmt.Errorf("writing man pages to %s: %w", dir, err))
			}
			_, err := fmt.Fprintf(ios.Out, "man pages written to %s\n", dir)
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "man", "directory to write the pages into")
	return cmd
}
