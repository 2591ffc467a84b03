using System.CommandLine;
using System.Diagnostics;
using Dedup.Worker.Cli;
using Dedup.Worker.Consumers;
using Dedup.Worker.Contracts;
using Dedup.Worker.Hosting;
using Dedup.Worker.Ledger;
using Dedup.Worker.Settings;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using RabbitMQ.Client;

namespace Dedup.Worker.Traffic;

/// <summary>
/// <c>traffic</c>: drives a real RabbitMQ (and the workers on it) the way the demo drives the in-memory one: payments
/// through MassTransit, plain-JSON payments through plain AMQP, quote requests, duplicates (some concurrent). It
/// shows progress, waits until the ledger shows every unique message and the queues are empty, checks that each ran
/// exactly once, and reports the send rate and the end-to-end throughput.
/// </summary>
internal static class TrafficCommand
{
    public static Command Create()
    {
        var count = CommandOptions.WholeNumber("--count", "Unique payments: MassTransit ChargePayments and plain-JSON ExternalPayments.", 10_000, 0, 10_000_000);
        var requests = CommandOptions.OptionalWholeNumber("--requests", "Unique quote requests; count/10 when not given.", 0, 10_000_000);
        var externalShare = CommandOptions.Share("--external-share", "Share of the payments sent as plain JSON to external-payments.", 0.2);
        var duplicateShare = CommandOptions.Share("--dup-share", "Share of the messages sent again as an exact copy.", 0.3);
        var concurrentShare = CommandOptions.Share("--concurrent-share", "Share of the copies sent at the same moment as their original.", 0.5);
        var concurrency = CommandOptions.WholeNumber("--concurrency", "Batches of messages sent at once.", 32, 1, 10_000);
        var rate = CommandOptions.WholeNumber("--rate", "Messages per second; 0 sends as fast as possible.", 0, 0, 10_000_000, "MSG_PER_S");
        var seed = CommandOptions.OptionalWholeNumber("--seed", "Seed of the traffic; random when not given (traffic prints it).", 0, int.MaxValue);
        var timeout = CommandOptions.WholeNumber("--timeout", "Seconds the run may take before it gives up and fails.", 300, 1, 86_400, "SECONDS");
        var settings = SettingsArgument.Create();
        var command = new Command("traffic",
            """
            Drive a real RabbitMQ and the workers on it with payments, quote requests and duplicates, and check that every
            unique message ran exactly once (exit 0) or not (exit 1). Settings as the worker's: RabbitMq, Redis, Ledger,
            Worker:QueueType (e.g. --RabbitMq:Host=rabbit-a).
            """)
        {
            count, requests, externalShare, duplicateShare, concurrentShare, concurrency, rate, seed, timeout, settings,
        };
        command.SetAction(parseResult =>
        {
            var unique = parseResult.GetValue(count);
            var seedValue = parseResult.GetValue(seed) ?? Random.Shared.Next();
            var plan = TrafficPlan.Create(
                unique,
                parseResult.GetValue(requests) ?? unique / 10,
                parseResult.GetValue(externalShare),
                parseResult.GetValue(duplicateShare),
                parseResult.GetValue(concurrentShare),
                conflicts: 0,
                new Random(seedValue));
            var run = new TrafficRun(plan, seedValue, parseResult.GetValue(concurrency), parseResult.GetValue(rate), TimeSpan.FromSeconds(parseResult.GetValue(timeout)));
            return RunAsync(run, parseResult.Values(settings), RunConsole.ForStandardOutput());
        });
        return command;
    }

    public static async Task<int> RunAsync(TrafficRun run, string[] settings, RunConsole console)
    {
        var (plan, seed, concurrency, rate, timeout) = run;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = settings, ContentRootPath = AppContext.BaseDirectory });
        builder.Services.AddWorkerConfiguration(builder.Configuration);
        console.ConfigureLogging(builder.Logging);
        builder.Logging.AddFilter(null, LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("MassTransit", LogLevel.Warning);
        builder.Services.AddMassTransit(x =>
        {
            x.DisableUsageTelemetry();
            x.UsingRabbitMq((context, cfg) => cfg.ConfigureHost(context.GetRequiredService<RabbitMqSettings>(), "dedup-traffic"));
        });
        builder.Services.AddOptions<MassTransitHostOptions>().Configure<RabbitMqSettings>((o, rabbitMq) =>
        {
            o.WaitUntilStarted = true;
            o.StartTimeout = rabbitMq.ConnectTimeout;
        });

        using var host = builder.Build();
        if (host.ValidateSettings() is { } invalid)
            return invalid;

        var configuration = host.Services.GetRequiredService<WorkerConfiguration>();
        await using var redis = new RedisConnections(configuration.Redis, configuration.Ledger);
        IConnection amqp;
        try
        {
            amqp = await RabbitMqClient.ConnectAsync(configuration.RabbitMq, "dedup-traffic", CancellationToken.None);
            await host.StartAsync();
            await redis.Ledger.GetDatabase().PingAsync();
        }
        catch (Exception exception) when (exception is StartupCheckException or StackExchange.Redis.RedisException or MassTransitException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"traffic: cannot start. {exception.Message}");
            return ExitCodes.DependencyUnavailable;
        }

        await using var _ = amqp;
        ILedger ledger = new RedisLedger(redis.Ledger, configuration.Ledger, new DedupOptions()); // reads only: no fence is written
        var replies = new ReplyRecorder();
        var bus = host.Services.GetRequiredService<IBus>();
        bus.ConnectHandler<QuoteIssued>(replies.Record);
        await using var raw = new RawAmqpSender(amqp);
        var driver = new TrafficDriver(new MassTransitSender(bus, bus.Address, raw, viaExchange: configuration.Worker.QueueType == WorkerQueueType.Quorum), concurrency, rate);
        var requestIds = plan.Batches.SelectMany(b => b).Where(m => m.Kind == MessageKind.Quote && !m.Duplicate).Select(m => m.RequestId).ToList();

        console.WriteLine($"traffic: {configuration.RabbitMq.Describe()}, ledger Redis {RedisSettings.Redact(redis.LedgerConfiguration)} (prefix {configuration.Ledger.KeyPrefix}), seed {seed}");
        console.WriteLine($"sending {plan.Messages} messages: {plan.PaymentIds.Count} payments, {plan.QuoteIds.Count} quote requests, {plan.Duplicates} duplicates ({plan.ConcurrentDuplicates} concurrent); concurrency {concurrency}, rate {(rate == 0 ? "unlimited" : rate + " msg/s")}");

        using var deadline = new CancellationTokenSource(timeout);
        var started = Stopwatch.GetTimestamp();
        var sending = driver.SendAsync(plan.Batches, deadline.Token);
        TimeSpan? sendTime = null;
        TimeSpan? doneTime = null;
        string? problem = null;
        var executed = new Counts([], []);
        var progress = RunProgress.Start(console, TimeSpan.FromSeconds(1),
            () => $"sent {driver.Sent}/{plan.Messages} ({driver.Sent / Math.Max(Stopwatch.GetElapsedTime(started).TotalSeconds, 0.001):0} msg/s)  executed {executed.Executed}/{plan.Unique}  replies {replies.Total}",
            new Gauge("sent", () => driver.Sent, plan.Messages),
            new Gauge("ran", () => plan.Unique - executed.Missing, plan.Unique));
        await using (progress)
        {
            try
            {
                while (true)
                {
                    var tick = Task.Delay(TimeSpan.FromSeconds(1), deadline.Token);
                    await (sendTime is null ? Task.WhenAny(sending, tick) : tick).ContinueWith(_ => { }, TaskScheduler.Default);
                    deadline.Token.ThrowIfCancellationRequested();
                    if (sending.IsCompleted && sendTime is null)
                    {
                        await sending; // surface a send failure
                        sendTime = Stopwatch.GetElapsedTime(started);
                    }

                    executed = await Counts.ReadAsync(ledger, plan);
                    if (sendTime is not null && executed.Missing == 0 && requestIds.All(replies.WasAnswered) && await QueuesEmptyAsync(amqp))
                    {
                        doneTime = Stopwatch.GetElapsedTime(started);
                        break;
                    }
                }
            }
            catch (OperationCanceledException) when (deadline.IsCancellationRequested)
            {
                problem = $"traffic: timed out after {timeout.TotalSeconds:0} s (--timeout)";
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // For example a plain-AMQP publish returned unroutable: the worker has not declared its queues yet.
                problem = $"traffic: sending failed: {exception.GetType().Name}: {exception.Message}. Start the worker first, so its queues exist.";
            }

            progress.Report(problem is null ? "done" : "stopped");
        }

        if (problem is not null)
            console.WriteLine(problem);

        // Late copies may still be settling in a worker (waiting for the copy in flight): read the ledger once more.
        executed = await Counts.ReadAsync(ledger, plan);
        await host.StopAsync();

        var unanswered = requestIds.Count(id => !replies.WasAnswered(id));
        var seconds = (doneTime ?? Stopwatch.GetElapsedTime(started)).TotalSeconds;
        var sendRate = $"in {sendTime?.TotalSeconds ?? double.NaN:0.0} s: {(sendTime is { } s ? driver.Sent / s.TotalSeconds : 0):0} msg/s (MassTransit sends and broker-confirmed AMQP publishes)";
        var processed = $"every unique message in the ledger and the queues empty after {seconds:0.0} s: {plan.Messages / seconds:0} msg/s end to end";
        console.WriteLine();
        if (console.Terminal is not null)
        {
            console.WriteTable(
            [
                new("sent", $"{driver.Sent}", sendRate),
                new("retried", $"{driver.Retried}", "sends that failed and were tried again with the same MessageId (a retry that duplicates a send that did arrive is skipped by dedup)"),
                new("processed", $"{plan.Messages}", processed),
                new("ran once", $"{executed.Once}", $"of {plan.Unique} unique messages ({executed.Twice} ran more than once, {executed.Missing} never)"),
                new("answered", $"{requestIds.Count - unanswered}", $"of {requestIds.Count} requests"),
                new("replayed", $"{replies.Replayed}", $"of {plan.DuplicateRequests} duplicate requests, answered with the stored reply"),
            ]);
        }
        else
        {
            if (driver.Retried > 0)
                console.WriteLine($"  {driver.Retried} sends failed and were tried again with the same MessageId (a lost connection; a retry that duplicates a send that did arrive is skipped by dedup)");
            console.WriteLine($"  sent {driver.Sent} messages {sendRate}");
            console.WriteLine($"  processed: {processed}");
            console.WriteLine($"  ran once {executed.Once}/{plan.Unique}, more than once {executed.Twice}, never {executed.Missing}; requests answered {requestIds.Count - unanswered}/{requestIds.Count}, duplicate requests answered {replies.Replayed}/{plan.DuplicateRequests}");
        }

        var passed = doneTime is not null && executed.Twice == 0 && executed.Missing == 0 && unanswered == 0;
        console.WriteVerdict(passed, passed ? "OK: every unique message ran exactly once." : "FAILED: a unique message ran other than once, a request was not answered, or the run timed out.");
        console.WriteLine($"traffic: sent={driver.Sent} unique={plan.Unique} executed={executed.Executed} ran_twice={executed.Twice} lost={executed.Missing + unanswered} replayed={replies.Replayed} elapsed={seconds:0.0}s throughput={plan.Messages / seconds:0}msg/s");
        return passed ? ExitCodes.Ok : ExitCodes.CheckFailed;
    }

    static async Task<bool> QueuesEmptyAsync(IConnection connection)
    {
        try
        {
            await using var channel = await connection.CreateChannelAsync();
            foreach (var queue in WorkerQueues.Names)
            {
                var ok = await channel.QueueDeclarePassiveAsync(queue);
                if (ok.MessageCount > 0)
                    return false;
            }

            return true;
        }
        catch (Exception exception) when (exception is RabbitMQ.Client.Exceptions.AlreadyClosedException
                                              or RabbitMQ.Client.Exceptions.OperationInterruptedException { ShutdownReason.ReplyCode: not 404 })
        {
            // The connection is recovering (a node went away): ask again at the next tick.
            return false;
        }
    }

    sealed record Counts(IReadOnlyList<long> Payments, IReadOnlyList<long> Quotes)
    {
        public long Executed => Payments.Sum() + Quotes.Sum();

        public int Once => Payments.Count(c => c == 1) + Quotes.Count(c => c == 1);

        public int Twice => Payments.Count(c => c > 1) + Quotes.Count(c => c > 1);

        public int Missing => Payments.Count(c => c == 0) + Quotes.Count(c => c == 0);

        public static async Task<Counts> ReadAsync(ILedger ledger, TrafficPlan plan) => new(
            await ledger.PaymentExecutionsAsync(plan.PaymentIds, CancellationToken.None),
            await ledger.QuoteExecutionsAsync(plan.QuoteIds, CancellationToken.None));
    }
}

/// <summary>What a traffic run sends, how fast, and how long it may take.</summary>
internal sealed record TrafficRun(TrafficPlan Plan, int Seed, int Concurrency, int Rate, TimeSpan Timeout);
