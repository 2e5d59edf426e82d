// Command riverbench drains no-op jobs with River (github.com/riverqueue/river) on a PostgreSQL
// database, for botgateway's bench (`python -m tests.bench --only river`). It is the bench's
// own harness, not River's `cmd/river` bench (which the Go module proxy does not serve).
//
// Usage (one JSON line of results on stdout; River's own logs, warnings and up, on stderr):
//
//	riverbench insert -dsn DSN -jobs N -payload empty|update [-batch 1000]
//	    runs River's migrations, then inserts N jobs with InsertManyFast, `batch` per call
//	riverbench work -dsn DSN -jobs N -payload empty|update -max-workers W
//	    [-fetch-cooldown 100ms] [-fetch-poll-interval 1s] [-budget 60s]
//	    starts a client with a no-op worker and times it until N completions have committed
//
// A job counts once River's completer has committed it as completed: the client's
// job_completed events are sent only after the completer's batch UPDATE returned, and the
// subscription's buffer holds all N events, so none is dropped.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// emptyArgs is a job with no arguments: River's best case.
type emptyArgs struct{}

func (emptyArgs) Kind() string { return "bench_empty" }

// updateArgs is a job carrying a Telegram update of the same JSON shape as the bench's
// workload.update(i) (tests/bench/workload.py), the payload botgateway's jobs carry.
type updateArgs struct {
	UpdateID int64   `json:"update_id"`
	Message  message `json:"message"`
}

type message struct {
	MessageID int64  `json:"message_id"`
	Date      int64  `json:"date"`
	Chat      chat   `json:"chat"`
	From      user   `json:"from"`
	Text      string `json:"text"`
}

type chat struct {
	ID        int64  `json:"id"`
	Type      string `json:"type"`
	FirstName string `json:"first_name"`
}

type user struct {
	ID        int64  `json:"id"`
	IsBot     bool   `json:"is_bot"`
	FirstName string `json:"first_name"`
}

func (updateArgs) Kind() string { return "bench_update" }

func update(id int64) updateArgs {
	chatID := 100_000 + id%64
	return updateArgs{
		UpdateID: id,
		Message: message{
			MessageID: id,
			Date:      1_700_000_000 + id,
			Chat:      chat{ID: chatID, Type: "private", FirstName: "Bench"},
			From:      user{ID: chatID, IsBot: false, FirstName: "Bench"},
			Text:      fmt.Sprintf("hello %d", id),
		},
	}
}

type noopWorker[T river.JobArgs] struct {
	river.WorkerDefaults[T]
}

func (noopWorker[T]) Work(context.Context, *river.Job[T]) error { return nil }

type options struct {
	dsn               string
	jobs              int
	payload           string
	batch             int
	maxWorkers        int
	fetchCooldown     time.Duration
	fetchPollInterval time.Duration
	budget            time.Duration
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "riverbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("missing command (insert, work)")
	}
	command := args[0]
	opts := options{}
	flags := flag.NewFlagSet(command, flag.ContinueOnError)
	flags.StringVar(&opts.dsn, "dsn", "", "PostgreSQL connection string")
	flags.IntVar(&opts.jobs, "jobs", 0, "jobs to insert or to wait for")
	flags.StringVar(&opts.payload, "payload", "empty", "job arguments: empty or update")
	flags.IntVar(&opts.batch, "batch", 1000, "jobs per InsertManyFast call")
	flags.IntVar(&opts.maxWorkers, "max-workers", river.QueueNumWorkersMax, "the queue's MaxWorkers")
	flags.DurationVar(&opts.fetchCooldown, "fetch-cooldown", river.FetchCooldownDefault, "Config.FetchCooldown")
	flags.DurationVar(&opts.fetchPollInterval, "fetch-poll-interval", river.FetchPollIntervalDefault, "Config.FetchPollInterval")
	flags.DurationVar(&opts.budget, "budget", time.Minute, "stop waiting for completions after this long")
	if err := flags.Parse(args[1:]); err != nil {
		return err
	}
	if opts.dsn == "" || opts.jobs < 1 || opts.batch < 1 {
		return errors.New("-dsn and a positive -jobs and -batch are required")
	}
	if opts.payload != "empty" && opts.payload != "update" {
		return fmt.Errorf("unknown -payload %q (empty or update)", opts.payload)
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, opts.dsn)
	if err != nil {
		return err
	}
	defer pool.Close()
	var result map[string]any
	switch command {
	case "insert":
		result, err = insert(ctx, pool, opts)
	case "work":
		result, err = work(ctx, pool, opts)
	default:
		return fmt.Errorf("unknown command %q (insert, work)", command)
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(result)
}

func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func insert(ctx context.Context, pool *pgxpool.Pool, opts options) (map[string]any, error) {
	driver := riverpgxv5.New(pool)
	migrator, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	// An insert-only client: no queues, so it starts nothing.
	client, err := river.NewClient(driver, &river.Config{Logger: quietLogger()})
	if err != nil {
		return nil, err
	}
	batches := make([][]river.InsertManyParams, 0, opts.jobs/opts.batch+1)
	for start := 0; start < opts.jobs; start += opts.batch {
		end := min(start+opts.batch, opts.jobs)
		batch := make([]river.InsertManyParams, 0, end-start)
		for id := start; id < end; id++ {
			var args river.JobArgs = emptyArgs{}
			if opts.payload == "update" {
				args = update(int64(id))
			}
			batch = append(batch, river.InsertManyParams{Args: args})
		}
		batches = append(batches, batch)
	}
	started := time.Now()
	inserted := 0
	for _, batch := range batches {
		n, err := client.InsertManyFast(ctx, batch)
		if err != nil {
			return nil, fmt.Errorf("insert: %w", err)
		}
		inserted += n
	}
	seconds := time.Since(started).Seconds()
	return map[string]any{"inserted": inserted, "seconds": seconds}, nil
}

func work(ctx context.Context, pool *pgxpool.Pool, opts options) (map[string]any, error) {
	workers := river.NewWorkers()
	river.AddWorker(workers, &noopWorker[emptyArgs]{})
	river.AddWorker(workers, &noopWorker[updateArgs]{})
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		FetchCooldown:     opts.fetchCooldown,
		FetchPollInterval: opts.fetchPollInterval,
		Logger:            quietLogger(),
		Queues:            map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: opts.maxWorkers}},
		Workers:           workers,
	})
	if err != nil {
		return nil, err
	}
	completed, unsubscribe := client.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: opts.jobs + 1,
		Kinds:    []river.EventKind{river.EventKindJobCompleted},
	})
	defer unsubscribe()
	cpuBefore := processCPU()
	started := time.Now()
	if err := client.Start(ctx); err != nil {
		return nil, err
	}
	budget := time.NewTimer(opts.budget)
	defer budget.Stop()
	done := 0
	var last time.Time
wait:
	for done < opts.jobs {
		select {
		case <-completed:
			done++
			last = time.Now()
		case <-budget.C:
			break wait
		}
	}
	if done == 0 {
		last = time.Now()
	}
	seconds := last.Sub(started).Seconds()
	cpu := processCPU() - cpuBefore
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := client.Stop(stopCtx); err != nil {
		return nil, fmt.Errorf("stop: %w", err)
	}
	return map[string]any{
		"jobs":        done,
		"seconds":     seconds,
		"finished":    done >= opts.jobs,
		"cpu_seconds": cpu,
	}, nil
}

// processCPU is the user+system CPU seconds this process has used so far.
func processCPU() float64 {
	var usage syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &usage); err != nil {
		return 0
	}
	return time.Duration(usage.Utime.Nano() + usage.Stime.Nano()).Seconds()
}
