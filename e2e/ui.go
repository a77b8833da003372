package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// `e2e ui` is the browser test: it writes a few hours of data ending now
// into a fresh server, SIGKILLs it right after the last acknowledged
// write, restarts it, and then, in headless chromium, logs in through
// /login and opens each checked node's page (/monitoring/node/CLUSTER/HOST),
// the page an operator looks at first. The page's own GraphQL answer
// (nodeMetrics, taken from the browser's network traffic) must hold every
// acknowledged sample of every metric, and every metric must be drawn as a
// plot. A screenshot of each page goes to the work directory.

// uiUser logs in through the form (NewServer creates it with this password).
const (
	uiUser     = "e2e"
	uiPassword = "e2e-password"
)

// nodeMetricsAnswer is the part of the node page's GraphQL answer checked.
type nodeMetricsAnswer struct {
	Data struct {
		NodeMetrics []struct {
			Host    string `json:"host"`
			Metrics []struct {
				Name   string `json:"name"`
				Metric struct {
					Series []struct {
						Data []*float64 `json:"data"`
					} `json:"series"`
				} `json:"metric"`
			} `json:"metrics"`
		} `json:"nodeMetrics"`
	} `json:"data"`
	Errors []struct {
		Message string `json:"message"`
	} `json:"errors"`
}

// UIMetric is what one plot of one node page showed.
type UIMetric struct {
	Host, Metric          string
	Acked, Restored, Lost int
	Wrong                 int
	// LostNewest: how many of the lost samples are the newest ones (a
	// server that loses its unwritten tail loses exactly those).
	LostNewest int
}

func uiMain(args []string) int {
	fs := flag.NewFlagSet("e2e ui", flag.ExitOnError)
	server := fs.String("server", "", "the cc-backend binary to test (required)")
	name := fs.String("name", "", "a label (default: the binary's directory name)")
	workDir := fs.String("workdir", "", "server directory and screenshots (default target/ui/NAME)")
	chromium := fs.String("chromium", "chromium", "the chromium binary")
	hours := fs.Float64("hours", 3, "hours of data written, ending now (the page shows the last 4)")
	nodes := fs.Int("nodes", 4, "nodes of the cluster")
	allPages := fs.Bool("all-pages", false, "open every node's page (default: the first and the last node's)")
	expect := fs.Bool("expect-no-loss", false, "fail unless every plot shows every acknowledged sample")
	timeout := fs.Duration("timeout", 10*time.Minute, "the whole run's limit")
	_ = fs.Parse(args)
	if *server == "" {
		fmt.Fprintln(os.Stderr, "usage: e2e ui -server PATH/cc-backend [-expect-no-loss] [flags]")
		fs.PrintDefaults()
		return 2
	}
	bin, err := filepath.Abs(*server)
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		logf("server binary: %v", err)
		return 2
	}
	browser, err := exec.LookPath(*chromium)
	if err != nil {
		logf("chromium: %v (`make test-ui` installs Debian's chromium)", err)
		return 2
	}
	if *name == "" {
		*name = filepath.Base(filepath.Dir(bin))
	}
	if *workDir == "" {
		*workDir = filepath.Join("target", "ui", *name)
	}
	dir, err := filepath.Abs(*workDir)
	if err != nil {
		logf("%v", err)
		return 2
	}

	killServersOnExit(*timeout)
	defer killAll()

	rows, err := runUI(bin, browser, dir, *hours, *nodes, *allPages)
	fmt.Printf("\n### Browser test: %s (%s)\n\n", *name, bin)
	fmt.Println("| host | metric | acknowledged | shown | lost | of them the newest | wrong |")
	fmt.Println("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
	bad := 0
	for _, r := range rows {
		fmt.Printf("| %s | %s | %d | %d | %d | %d | %d |\n", r.Host, r.Metric, r.Acked, r.Restored, r.Lost, r.LostNewest, r.Wrong)
		if r.Lost != 0 || r.Wrong != 0 || r.Acked == 0 {
			bad++
		}
	}
	fmt.Printf("\nscreenshots: %s/*.png\n", dir)
	if err != nil {
		logf("%v", err)
		return 1
	}
	if *expect && bad > 0 {
		logf("expect-no-loss: %d plots do not show every acknowledged sample", bad)
		return 1
	}
	return 0
}

func runUI(bin, browser, dir string, hours float64, nodes int, allPages bool) ([]UIMetric, error) {
	layout := NewLayout("uitest", "node", nodes, 2)
	s, err := NewServer(bin, filepath.Join(dir, "server"), layout, "1h", "48h")
	if err != nil {
		return nil, err
	}
	if _, err := s.Start("ui: ingest", 5*time.Minute); err != nil {
		return nil, err
	}
	steps := int(hours * 3600 / float64(layout.Timestep))
	now := time.Now().Unix()
	base := now - int64(steps-1)*layout.Timestep
	ledger := NewLedger(layout)
	w := NewWriter(s, ledger)
	if failed := Backfill(w, 0, steps, base, 0, 1, 0, nil); failed > 0 {
		s.Kill()
		return nil, fmt.Errorf("%d writes failed: %s", failed, w.LastErr())
	}
	// Right after the last acknowledgement: whatever the server has not
	// written by now is lost.
	s.Kill()
	logf("%d steps of %d series acknowledged, SIGKILL; restarting", steps, len(layout.Series()))
	if _, err := s.Start("ui: after SIGKILL", 5*time.Minute); err != nil {
		return nil, err
	}
	defer s.Term(time.Minute)

	pages := []int{0, nodes - 1}
	if allPages {
		pages = pages[:0]
		for n := range nodes {
			pages = append(pages, n)
		}
	}
	b, err := newUIBrowser(browser, "http://"+s.Addr)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	var rows []UIMetric
	for _, n := range pages {
		host := layout.Host(n)
		answer, plots, err := b.nodePage(layout.Cluster, host, filepath.Join(dir, host+".png"))
		if err != nil {
			return rows, fmt.Errorf("%s: %w", host, err)
		}
		got, err := checkNodePage(layout, ledger, n, answer)
		rows = append(rows, got...)
		if err != nil {
			return rows, fmt.Errorf("%s: %w", host, err)
		}
		if plots != len(got) {
			return rows, fmt.Errorf("%s: %d plots drawn for %d metrics", host, plots, len(got))
		}
	}
	return rows, nil
}

// uiBrowser is a headless chromium logged in to the server, which notes
// the GraphQL requests of its pages.
type uiBrowser struct {
	ctx    context.Context
	cancel []context.CancelFunc
	base   string

	mu         sync.Mutex
	queries    []network.RequestID
	finished   map[network.RequestID]bool
	exceptions []string
	read       map[network.RequestID]bool // answers already looked at
}

func newUIBrowser(browser, base string) (*uiBrowser, error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser),
		// Tall enough for a node page of 8 plots: the screenshot is the
		// viewport as laid out (a full-page capture resizes the page,
		// which redraws the plots while it is taken).
		chromedp.WindowSize(1400, 1500),
		// The sandbox needs user namespaces, which a root CI job lacks.
		chromedp.NoSandbox,
		// Containers often have a small /dev/shm.
		chromedp.Flag("disable-dev-shm-usage", true),
	)
	b := &uiBrowser{base: base, finished: map[network.RequestID]bool{}, read: map[network.RequestID]bool{}}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelBrowser := chromedp.NewContext(actx)
	b.ctx, b.cancel = ctx, []context.CancelFunc{cancelBrowser, cancelAlloc}
	chromedp.ListenTarget(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			if strings.HasSuffix(e.Request.URL, "/query") {
				b.queries = append(b.queries, e.RequestID)
			}
		case *network.EventLoadingFinished:
			b.finished[e.RequestID] = true
		case *runtime.EventExceptionThrown:
			b.exceptions = append(b.exceptions, e.ExceptionDetails.Error())
		}
	})
	// The first Run starts the browser, which lives as long as its context:
	// ctx, not one of the timeouts below.
	if err := chromedp.Run(ctx, network.Enable()); err != nil {
		b.Close()
		return nil, fmt.Errorf("starting %s: %w", browser, err)
	}
	login, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	err := chromedp.Run(login,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible("#username", chromedp.ByID),
		chromedp.SendKeys("#username", uiUser, chromedp.ByID),
		chromedp.SendKeys("#password", uiPassword, chromedp.ByID),
		chromedp.Submit("#password", chromedp.ByID),
		// The login answers with a redirect away from /login.
		chromedp.WaitNotPresent("#password", chromedp.ByID),
	)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("login: %w", err)
	}
	return b, nil
}

func (b *uiBrowser) Close() {
	for _, cancel := range b.cancel {
		cancel()
	}
}

// nodePage opens the node's page, waits until every metric's plot is
// drawn, saves a screenshot and returns the page's nodeMetrics answer (its
// default range, the last 4 hours) and the number of plots.
func (b *uiBrowser) nodePage(cluster, host, shot string) ([]byte, int, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 2*time.Minute)
	defer cancel()
	// Requests of the previous page: their bodies go with it.
	b.mu.Lock()
	for _, id := range b.queries {
		b.read[id] = true
	}
	b.mu.Unlock()
	var body, png []byte
	var plots int
	err := chromedp.Run(ctx,
		chromedp.Navigate(b.base+"/monitoring/node/"+cluster+"/"+host),
		b.nextAnswer(&body),
		b.plotsDrawn(&plots),
		chromedp.CaptureScreenshot(&png),
	)
	b.mu.Lock()
	for _, e := range b.exceptions {
		logf("%s: page exception: %s", host, e)
	}
	b.exceptions = nil
	b.mu.Unlock()
	if err != nil {
		// What the page showed instead, for the artifacts.
		failed, cancel := context.WithTimeout(b.ctx, 20*time.Second)
		defer cancel()
		if chromedp.Run(failed, chromedp.CaptureScreenshot(&png)) == nil && os.WriteFile(shot, png, 0o644) == nil {
			logf("%s: screenshot of the failed page %s", host, shot)
		}
		return nil, 0, err
	}
	if err := os.WriteFile(shot, png, 0o644); err != nil {
		return nil, 0, err
	}
	logf("%s: %d plots, screenshot %s", host, plots, shot)
	return body, plots, nil
}

// nextAnswer waits for the next answer to a nodeMetrics query.
func (b *uiBrowser) nextAnswer(dst *[]byte) chromedp.ActionFunc {
	return func(ctx context.Context) error {
		for {
			b.mu.Lock()
			var ids []network.RequestID
			for _, id := range b.queries {
				if b.finished[id] && !b.read[id] {
					b.read[id] = true
					ids = append(ids, id)
				}
			}
			b.mu.Unlock()
			for _, id := range ids {
				// An error: the request of a page left meanwhile.
				body, err := network.GetResponseBody(id).Do(ctx)
				if err == nil && strings.Contains(string(body), `"nodeMetrics"`) {
					*dst = body
					return nil
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("the page's nodeMetrics query got no answer: %w", ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
}

// plotsDrawn waits until the number of uPlot canvases (one per metric
// with data) has stayed the same for a second.
func (b *uiBrowser) plotsDrawn(plots *int) chromedp.ActionFunc {
	return func(ctx context.Context) error {
		last, stable := -1, 0
		for stable < 10 {
			if err := chromedp.Evaluate(`document.querySelectorAll(".uplot canvas").length`, plots).Do(ctx); err != nil {
				return err
			}
			if *plots > 0 && *plots == last {
				stable++
			} else {
				stable = 0
			}
			last = *plots
			time.Sleep(100 * time.Millisecond)
		}
		return nil
	}
}

// checkNodePage compares the page's answer for node n with the ledger. The
// page asks at node scope: a node metric's value is its sample, a hwthread
// metric's is the sum over the node's hardware threads, which for sample k
// is sum(sid mod 1024) * 16384 + threads * k (see encode).
func checkNodePage(l *Layout, g *Ledger, n int, body []byte) ([]UIMetric, error) {
	var a nodeMetricsAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return nil, fmt.Errorf("nodeMetrics answer: %w", err)
	}
	if len(a.Errors) > 0 {
		return nil, fmt.Errorf("nodeMetrics answer: %s", a.Errors[0].Message)
	}
	host := l.Host(n)
	shown := map[string][]*float64{}
	for _, nm := range a.Data.NodeMetrics {
		if nm.Host != host {
			continue
		}
		for _, m := range nm.Metrics {
			for _, s := range m.Metric.Series {
				shown[m.Name] = append(shown[m.Name], s.Data...)
			}
		}
	}
	metrics := append(append([]string{}, l.NodeMetrics...), l.HWMetrics...)
	sort.Strings(metrics)
	var rows []UIMetric
	for _, metric := range metrics {
		var sids []int
		for _, s := range l.NodeSeries(n) {
			if s.Metric == metric {
				sids = append(sids, s.ID)
			}
		}
		offset := 0.0
		for _, sid := range sids {
			offset += float64((sid % sidMod) * kMod)
		}
		acked := g.ackedSteps(sids)
		r := UIMetric{Host: host, Metric: metric}
		seen := make([]bool, len(acked))
		for _, v := range shown[metric] {
			if v == nil || math.IsNaN(*v) {
				continue
			}
			k := (*v - offset) / float64(len(sids))
			if k != math.Trunc(k) || k < 0 || int(k) >= len(acked) || !acked[int(k)] || seen[int(k)] {
				r.Wrong++
				continue
			}
			seen[int(k)] = true
			r.Restored++
		}
		newest := true
		for k := len(acked) - 1; k >= 0; k-- {
			switch {
			case !acked[k]:
			case seen[k]:
				newest = false
				r.Acked++
			default:
				r.Acked++
				r.Lost++
				if newest {
					r.LostNewest++
				}
			}
		}
		rows = append(rows, r)
	}
	return rows, nil
}

// ackedSteps tells, per sample number, whether it was acknowledged for
// all of sids.
func (g *Ledger) ackedSteps(sids []int) []bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]bool, len(g.acked[sids[0]]))
	for k := range out {
		out[k] = true
		for _, sid := range sids {
			out[k] = out[k] && k < len(g.acked[sid]) && g.acked[sid][k]
		}
	}
	return out
}
