package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synq/synq/internal/golden"
)

// TestHTMLGolden compares the HTML report of two scenarios with their
// golden files byte for byte: the page must not change between runs
// (no clock, stable order, deterministic charts).
func TestHTMLGolden(t *testing.T) {
	for _, name := range []string{"accept-overflow-ack-ignored", "syncookies-flood"} {
		t.Run(name, func(t *testing.T) {
			sc := scenario{name: name, dir: filepath.Join(testdataDir, name), capture: scenarioCapture(t, name)}
			golden.Check(t, filepath.Join(sc.dir, "golden.html"), analyzeScenario(t, sc, "html"))
		})
	}
}

// hostileCapture copies a scenario's capture, cut mid-record so that a
// warning names the file, under a name full of markup, quotes and control
// characters.
func hostileCapture(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(scenarioCapture(t, "accept-overflow-ack-ignored"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "a\"'<script>alert(1)<img src=x onerror=alert(2)>\x1b[31m.pcap")
	if err := os.WriteFile(path, data[:len(data)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHTMLHostileFileName(t *testing.T) {
	ios, out, errOut := testStreams(nil)
	if code := run([]string{"analyze", "--format", "html", hostileCapture(t)}, ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	page := out.String()
	for _, bad := range []string{"<script", "<img", "\x1b"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	// Shown escaped in the file list and in the cut-off warning.
	if n := strings.Count(page, "&lt;script&gt;alert(1)&lt;img src=x onerror=alert(2)&gt;"); n < 2 {
		t.Errorf("escaped file name shown %d times, want the file list and the warning", n)
	}
}

// chromiumPath is where Debian's chromium package puts the browser
// (.ci/run installs it).
const chromiumPath = "/usr/bin/chromium"

// TestHTMLInBrowser loads the HTML report of every scenario (and of a
// capture with a hostile file name) in headless Chromium and checks that
// the rendered DOM holds the verdict and the charts, that a screenshot is
// not blank, and that the page made no network request. CI sets
// SYNQ_REQUIRE_CHROMIUM=1 so that a missing browser fails instead of
// skipping.
func TestHTMLInBrowser(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("SYNQ_REQUIRE_CHROMIUM") != "" {
			t.Fatalf("SYNQ_REQUIRE_CHROMIUM is set but %s is missing: %v", chromiumPath, err)
		}
		t.Skipf("no %s: install it (apt-get install chromium) to run the browser test", chromiumPath)
	}
	type page struct {
		name, capture string
		nstat         []string
	}
	var pages []page
	for _, sc := range scenarios(t) {
		pages = append(pages, page{sc.name, sc.capture, append(scenarioArgs(t, sc), withNstat(sc)...)})
	}
	pages = append(pages, page{name: "hostile-file-name", capture: hostileCapture(t)})

	// The check must be able to fail: a page that fetches is caught.
	t.Run("control: a fetching page is caught", func(t *testing.T) {
		dir := t.TempDir()
		p := filepath.Join(dir, "leak.html")
		leak := `<!DOCTYPE html><html><body><p>x</p><img src="http://synq-canary.invalid/x.png"></body></html>`
		if err := os.WriteFile(p, []byte(leak), 0o644); err != nil {
			t.Fatal(err)
		}
		r := loadInBrowser(t, p)
		if len(r.pageRequests) == 0 {
			t.Fatal("the net log shows no request from a page that fetches an image: the check is blind")
		}
	})

	shots := os.Getenv("SYNQ_HTML_SHOTS") // keep the screenshots there
	sem := make(chan struct{}, 2)         // two browsers at once at most
	var wg sync.WaitGroup
	for _, pg := range pages {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t.Run(pg.name, func(t *testing.T) {
				checkPageInBrowser(t, pg.capture, pg.nstat, shots, pg.name)
			})
		}()
	}
	wg.Wait()
}

func checkPageInBrowser(t *testing.T, capture string, nstat []string, shots, name string) {
	dir := t.TempDir()
	args := append(append([]string{"analyze"}, nstat...), capture)
	ios, out, errOut := testStreams(nil)
	if code := run(append(append([]string{}, args...), "--format", "json"), ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep reportJSON
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	htmlPath := filepath.Join(dir, "report.html")
	ios, _, errOut = testStreams(nil)
	if code := run(append(append([]string{}, args...), "--format", "html", "-o", htmlPath), ios); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}

	r := loadInBrowser(t, htmlPath)
	dom := html.UnescapeString(r.dom)
	if !strings.Contains(dom, `id="verdict"`) || !strings.Contains(dom, rep.Verdict.Summary) {
		t.Errorf("rendered DOM lacks the verdict %q", rep.Verdict.Summary)
	}
	// A timeline and a latency chart per listener (no latency chart where
	// no handshake completed).
	wantCharts := 0
	for _, l := range rep.Listeners {
		wantCharts++
		if l.HandshakeCount != nil {
			wantCharts++
		}
	}
	if n := strings.Count(r.dom, `<svg class="chart"`); n != wantCharts || n == 0 {
		t.Errorf("rendered DOM has %d chart SVGs, want %d", n, wantCharts)
	}
	if len(r.pageRequests) > 0 {
		t.Errorf("the page made network requests: %v", r.pageRequests)
	}
	checkScreenshot(t, r.png)
	checkChartLayout(t, htmlPath)
	if shots != "" {
		if err := os.MkdirAll(shots, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(shots, name+".png"), r.png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type browserResult struct {
	dom          string
	png          []byte
	pageRequests []string
}

const shotW, shotH = 1100, 2400

// loadInBrowser opens path in a fresh headless Chromium, with every name
// resolving to nothing (a trap should a request be tried), and returns
// the DOM, a screenshot and the requests the page started according to
// the net log.
func loadInBrowser(t *testing.T, path string) browserResult {
	t.Helper()
	dir := t.TempDir()
	shot, netlog := filepath.Join(dir, "shot.png"), filepath.Join(dir, "netlog.json")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromiumPath,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+filepath.Join(dir, "profile"),
		"--host-resolver-rules=MAP * ~NOTFOUND",
		"--log-net-log="+netlog,
		fmt.Sprintf("--window-size=%d,%d", shotW, shotH), "--screenshot="+shot,
		"--dump-dom", "file://"+path)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	r := browserResult{dom: stdout.String()}
	var err error
	if r.png, err = os.ReadFile(shot); err != nil {
		t.Fatalf("no screenshot: %v\n%s", err, stderr.String())
	}
	if r.pageRequests, err = pageRequests(netlog); err != nil {
		t.Fatal(err)
	}
	return r
}

// pageRequests reads a Chromium net log and returns the URLs of requests
// a document started. Chromium's own background requests (component
// updates, account checks), which no flag fully silences and which the
// resolver trap stops, carry the initiator "not an origin"; a request
// from the page carries the page's origin ("null" for a file: page) and
// a file:// network isolation key.
func pageRequests(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var log struct {
		Constants struct {
			EventTypes map[string]int `json:"logEventTypes"`
		} `json:"constants"`
		Events []struct {
			Type   int `json:"type"`
			Params struct {
				URL       string `json:"url"`
				Initiator string `json:"initiator"`
				NIK       string `json:"network_isolation_key"`
			} `json:"params"`
		} `json:"events"`
	}
	// Chromium may be killed before it closes the JSON: the test fails
	// then rather than pass on a log it cannot read.
	if err := json.Unmarshal(data, &log); err != nil {
		return nil, fmt.Errorf("net log %s: %w", path, err)
	}
	start, ok := log.Constants.EventTypes["URL_REQUEST_START_JOB"]
	if !ok {
		return nil, fmt.Errorf("net log %s: no URL_REQUEST_START_JOB event type", path)
	}
	var urls []string
	for _, e := range log.Events {
		p := e.Params
		// The event's end carries no parameters.
		if e.Type != start || p.URL == "" || strings.HasPrefix(p.URL, "file://") {
			continue
		}
		if p.Initiator != "not an origin" || strings.Contains(p.NIK, "file://") {
			urls = append(urls, p.URL)
		}
	}
	return urls, nil
}

// checkScreenshot fails on a PNG that is not the window's size or shows
// next to nothing (a blank or unstyled page).
func checkScreenshot(t *testing.T, data []byte) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if b := img.Bounds(); b.Dx() != shotW || b.Dy() != shotH {
		t.Errorf("screenshot %dx%d, want %dx%d", b.Dx(), b.Dy(), shotW, shotH)
	}
	colours, inked := inkOf(img)
	if colours < 16 || inked < 0.02 {
		t.Errorf("screenshot looks blank: %d colours, %.1f%% of pixels not background", colours, 100*inked)
	}
}

// inkOf counts an image's distinct colours (up to 1000) and the share of
// pixels that differ from its top-left corner's colour.
func inkOf(img image.Image) (colours int, inked float64) {
	b := img.Bounds()
	bg := img.At(b.Min.X, b.Min.Y)
	seen := map[[4]uint32]bool{}
	n := 0
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			c := img.At(x, y)
			r, g, bl, a := c.RGBA()
			if len(seen) < 1000 {
				seen[[4]uint32{r, g, bl, a}] = true
			}
			if c != bg {
				n++
			}
		}
	}
	total := ((b.Dx() + 1) / 2) * ((b.Dy() + 1) / 2)
	return len(seen), float64(n) / float64(total)
}

// TestFormatCompletion checks that the shell completion of --format offers
// html in both commands.
func TestFormatCompletion(t *testing.T) {
	for _, cmd := range []string{"analyze", "live"} {
		ios, out, errOut := testStreams(nil)
		if code := run([]string{"__complete", cmd, "--format", ""}, ios); code != exitOK {
			t.Fatalf("%s: exit %d: %s", cmd, code, errOut)
		}
		if got := out.String(); !strings.Contains(got, "html\n") || !strings.Contains(got, "json\n") {
			t.Errorf("%s --format completion:\n%s", cmd, got)
		}
	}
}

// layoutProbe measures, in the browser, every chart's legend and plot
// areas as laid out with the page's real fonts, and every text element
// against its chart's bounds; it writes what it found into the body's
// data-layout attribute ("ok" or the faults), which --dump-dom shows.
const layoutProbe = `<script>
(function () {
  var faults = [];
  var charts = document.querySelectorAll("svg.chart");
  function overlap(a, b) { return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom; }
  charts.forEach(function (svg, n) {
    var s = svg.getBoundingClientRect();
    var areas = Array.prototype.map.call(svg.querySelectorAll("g.plot-area > rect:first-child"), function (r) { return r.getBoundingClientRect(); });
    if (areas.length === 0) { faults.push("chart " + n + ": no plot area"); }
    svg.querySelectorAll("g.legend").forEach(function (g) {
      var l = g.getBoundingClientRect();
      areas.forEach(function (a) { if (overlap(l, a)) { faults.push("chart " + n + ": legend over the data"); } });
    });
    svg.querySelectorAll("text").forEach(function (t) {
      var b = t.getBoundingClientRect();
      if (b.width > 0 && (b.left < s.left - 1 || b.right > s.right + 1 || b.top < s.top - 1 || b.bottom > s.bottom + 1)) {
        faults.push("chart " + n + ": text cut off: " + t.textContent);
      }
    });
  });
  document.body.setAttribute("data-layout", charts.length + " charts: " + (faults.length ? faults.join("; ") : "ok"));
})();
</script>`

// checkChartLayout loads a copy of the page with the layout probe in it
// (and a policy that lets only that script run) and fails on what the
// probe reports: a legend drawn over the data, a label cut off.
func checkChartLayout(t *testing.T, htmlPath string) {
	t.Helper()
	page, err := os.ReadFile(htmlPath)
	if err != nil {
		t.Fatal(err)
	}
	probed := strings.Replace(string(page), "default-src 'none';", "default-src 'none'; script-src 'unsafe-inline';", 1)
	probed = strings.Replace(probed, "</body>", layoutProbe+"</body>", 1)
	path := filepath.Join(t.TempDir(), "probed.html")
	if err := os.WriteFile(path, []byte(probed), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := loadInBrowser(t, path).dom
	i := strings.Index(dom, `data-layout="`)
	if i < 0 {
		t.Fatal("the layout probe did not run")
	}
	got, _, _ := strings.Cut(dom[i+len(`data-layout="`):], `"`)
	if !strings.HasSuffix(got, ": ok") {
		t.Errorf("chart layout: %s", html.UnescapeString(got))
	}
}
