package main

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"
)

// TestChatPTY runs rulebot chat on a pseudo-terminal, as a person does, and
// looks at the screen: a rule's failure (a fetch answered 500) and a
// reload notice that comes while a line is being typed are each a line of
// their own starting at column 0, the prompt and the half-typed line are
// drawn again below them, no line ever ends in a bare \n (which a terminal
// in raw mode shows as a staircase), and Ctrl-D leaves the cursor at the
// start of a fresh line.
func TestChatPTY(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down for maintenance", http.StatusInternalServerError)
	}))
	defer srv.Close()
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(rules, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const echo = "  - {name: echo, reply: 'echo {{ text }}'}\n"
	write("bot: {fetch: {allow: [127.0.0.1]}}\nrules:\n" +
		"  - {name: sky, match: {command: sky}, fetch: {url: '" + srv.URL + "/sky'}, reply: '{{ fetch.json.sky }}'}\n" + echo)

	cmd := exec.Command(binary, "chat", "-watch", "-rules", rules)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "TERM=xterm"}
	cmd.Dir = dir
	tty, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: screenWidth})
	if errors.Is(err, pty.ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	var waitErr error
	exited := make(chan struct{})
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() {
		cmd.Process.Kill() // if the test failed before Ctrl-D ended it
		<-exited
	}()
	var scr screen
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := tty.Read(buf)
			scr.Write(buf[:n])
			if err != nil { // EIO once the process has exited
				return
			}
		}
	}()
	type fn = func(rows []string, row, col int) bool
	wait := func(what string, ok fn) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			rows, row, col := scr.state()
			if ok(rows, row, col) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the screen never showed %s:\n%s", what, scr.dump())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// promptAfter: the row after the one starting with line is the prompt
	// followed by typed, with the cursor after it.
	promptAfter := func(line, typed string) fn {
		return func(rows []string, row, col int) bool {
			return row > 0 && strings.HasPrefix(rows[row-1], line) && rows[row] == "you> "+typed && col == len("you> "+typed)
		}
	}

	wait("the banner", func(rows []string, row, col int) bool {
		return rows[0] != "" && strings.HasSuffix(rows[row-1], "/quit or Ctrl-D quits.") && rows[row] == "you> "
	})
	type1 := func(s string) {
		t.Helper()
		if _, err := tty.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}

	type1("@rulebot sky\r")
	wait("the fetch's failure above the prompt", promptAfter("(rule sky failed: ", ""))
	wait("the failure from column 0", func(rows []string, _, _ int) bool {
		return rowIndex(rows, "(rule sky failed: ") >= 0 && strings.Contains(strings.Join(rows, ""), "HTTP 500)")
	})

	type1("hel") // half a line, then the rules change under it
	wait("the typed text", func(rows []string, row, col int) bool { return rows[row] == "you> hel" })
	write("rules:\n" + echo)
	wait("the reload notice above the prompt and the half-typed line", promptAfter("rules reloaded: 1 rules", "hel"))

	type1("lo\r")
	wait("the answer to the whole line", promptAfter("[#general] rulebot: echo hello", ""))

	type1("\x04") // Ctrl-D
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("chat exited with %v:\n%s", waitErr, scr.dump())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("chat did not exit at Ctrl-D:\n%s", scr.dump())
	}
	<-read
	rows, row, col := scr.state()
	if col != 0 || rows[row] != "" || !strings.HasPrefix(rows[row-1], "you> ") {
		t.Errorf("after Ctrl-D the cursor is at column %d of %q, want column 0 of an empty line below the prompt:\n%s", col, rows[row], scr.dump())
	}
	for i, r := range rows {
		wrapped := i > 0 && utf8.RuneCountInString(rows[i-1]) == screenWidth
		if !wrapped && r != strings.TrimLeft(r, " ") {
			t.Errorf("a line does not start at column 0: %q\n%s", r, scr.dump())
		}
		if strings.Contains(r, "level=") || strings.Contains(r, `"level"`) {
			t.Errorf("a log line reached the screen: %q", r)
		}
	}
	if i := bareNewline(scr.bytes()); i >= 0 {
		raw := scr.bytes()
		t.Errorf("a bare \\n at byte %d: %q", i, raw[max(0, i-60):i+1])
	}
}

// rowIndex returns the index of the first row that starts with prefix, or -1.
func rowIndex(rows []string, prefix string) int {
	for i, r := range rows {
		if strings.HasPrefix(r, prefix) {
			return i
		}
	}
	return -1
}

// bareNewline returns the offset of the first \n in b that does not follow
// a \r, or -1.
func bareNewline(b []byte) int {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return i
		}
	}
	return -1
}

// screenWidth is the width of the pseudo-terminal, and x/term's default.
const screenWidth = 80

// A screen is a minimal terminal: from the bytes a program writes it keeps
// the text of each row and the cursor, as an 80-column terminal (with the
// deferred wrap of xterm) shows them. It knows \r, \n, \b, printable text
// and the CSI sequences x/term's Terminal writes to move the cursor (A, B,
// C, D) and to erase (K, J); other escape sequences are skipped.
type screen struct {
	mu       sync.Mutex
	raw      []byte
	done     int // raw[:done] is on the screen
	rows     [][]rune
	row, col int // col == screenWidth: the next character wraps
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.raw = append(s.raw, p...)
	for s.done < len(s.raw) {
		n := s.step(s.raw[s.done:])
		if n == 0 {
			break // an incomplete sequence: wait for the rest
		}
		s.done += n
	}
	return len(p), nil
}

// step shows the first character or sequence of b and returns its length,
// or 0 when b holds only its beginning.
func (s *screen) step(b []byte) int {
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	switch c := b[0]; {
	case c == '\r':
		s.col = 0
	case c == '\n':
		s.row++
	case c == '\b':
		s.col = max(0, min(s.col, screenWidth-1)-1)
	case c == 0x1b:
		if len(b) < 2 {
			return 0
		}
		if b[1] != '[' {
			return 2
		}
		end := bytes.IndexFunc(b[2:], func(r rune) bool { return r >= 0x40 && r <= 0x7e })
		if end < 0 {
			return 0
		}
		n, err := strconv.Atoi(string(b[2 : 2+end]))
		if err != nil {
			n = 1
		}
		switch b[2+end] {
		case 'A':
			s.row = max(0, s.row-n)
		case 'B':
			s.row += n
		case 'C':
			s.col = min(screenWidth-1, s.col+n)
		case 'D':
			s.col = max(0, min(s.col, screenWidth-1)-n)
		case 'K':
			s.rows[s.row] = s.rows[s.row][:min(s.col, len(s.rows[s.row]))]
		case 'J':
			s.rows[s.row] = s.rows[s.row][:min(s.col, len(s.rows[s.row]))]
			s.rows = s.rows[:s.row+1]
		}
		return 3 + end
	case c < 0x20 || c == 0x7f:
	default:
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && !utf8.FullRune(b) {
			return 0
		}
		if s.col == screenWidth {
			s.row, s.col = s.row+1, 0
			for len(s.rows) <= s.row {
				s.rows = append(s.rows, nil)
			}
		}
		line := s.rows[s.row]
		for len(line) <= s.col {
			line = append(line, ' ')
		}
		line[s.col] = r
		s.rows[s.row] = line
		s.col++
		return size
	}
	return 1
}

// state returns the rows (at least up to the cursor's), the cursor's row
// and column.
func (s *screen) state() (rows []string, row, col int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.rows) <= s.row {
		s.rows = append(s.rows, nil)
	}
	rows = make([]string, len(s.rows))
	for i, r := range s.rows {
		rows[i] = string(r)
	}
	return rows, s.row, s.col
}

func (s *screen) bytes() []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.raw)
}

// dump is the screen as text, and the cursor, for a failure message.
func (s *screen) dump() string {
	rows, row, col := s.state()
	var b strings.Builder
	for i, r := range rows {
		b.WriteString(strconv.Itoa(i) + "|" + r + "\n")
	}
	b.WriteString("cursor at row " + strconv.Itoa(row) + ", column " + strconv.Itoa(col))
	return b.String()
}
