using System.Diagnostics;
using System.Text;
using Xunit.Abstractions;

namespace Dedup.Reliability.Tests;

/// <summary>Scenarios 14 to 16: a poison message, SIGTERM while consumers run, bad input.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(ReliabilityCollection.Name)]
public sealed class InputScenarios(ReliabilityCluster cluster, ITestOutputHelper output)
{
    static List<Guid> Ids(int n) => [.. Enumerable.Range(0, n).Select(_ => Guid.NewGuid())];

    [Fact]
    public async Task S14_PoisonMessage_EndsInTheErrorQueue_ClaimReleased()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "14-poison-message");
        s.StartWorker("w1");
        s.StartWorker("w2");
        await s.WaitForConsumersAsync(2);
        var ids = Ids(30);
        await s.SendPaymentsAsync(ids, copies: 2);
        for (var i = 0; i < 3; i++)
            await s.SendExternalAsync(paymentId: string.Empty, messageId: $"poison-{i}", testId: $"poison-{i}", expectError: true); // always throws: no paymentId
        for (var i = 0; i < 10; i++)
            await s.SendExternalAsync($"ext-{i}", $"ext-msg-{i}", $"ext-{i}");
        await s.DrainAsync(TimeSpan.FromSeconds(60));

        // Not stuck in progress: the same poison id again runs again (its claim was released) and fails again.
        await s.SendExternalAsync(paymentId: string.Empty, messageId: "poison-0", testId: "poison-0-again", expectError: true);
        await s.DrainAsync(TimeSpan.FromSeconds(60));
        s.Check(s.Errors.TryGetValue("poison-0", out var reason) && reason.Contains("no paymentId", StringComparison.Ordinal), $"the reason names the fault: {reason}");
        s.Check(s.Errors.ContainsKey("poison-0-again"), "a redelivered copy of the poison message ran again (claim released) and failed again");
        s.Check(s.Workers.Sum(w => w.Count("outcome=released")) >= 4, "each failed attempt released its claim (outcome=released)");
        await s.FinishAsync();
    }

    [Fact]
    public async Task S15_SigtermWhileConsumersRun_StopTimeoutHonoured_ClaimsReleased()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "15-sigterm-while-consuming");
        var a = s.StartWorker("a", ("Worker__PaymentWorkTime", "00:00:05"), ("Worker__StopTimeout", "00:00:04"), ("Worker__ConsumerStopTimeout", "00:00:01"));
        await s.WaitForConsumersAsync(1);
        var ids = Ids(24);
        await s.SendPaymentsAsync(ids, copies: 1);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (DateTime.UtcNow < deadline && await s.KeysInProgressAsync() < 8)
            await Task.Delay(100);
        var running = await s.KeysInProgressAsync();
        s.Check(running >= 8, $"consumers were running when SIGTERM came ({running} claims in progress)");
        var clock = Stopwatch.StartNew();
        a.Signal(WorkerProcess.SigTerm);
        s.Log("SIGTERM a");
        var exited = await a.WaitForExitAsync(TimeSpan.FromSeconds(15));
        s.Log($"a exited after {clock.Elapsed.TotalSeconds:F1} s with code {a.ExitCode}");
        s.Check(exited && clock.Elapsed < TimeSpan.FromSeconds(4 + 2), $"a stopped within its stop timeout (4 s): {clock.Elapsed.TotalSeconds:F1} s");
        s.Check(a.ExitCode == 0, $"a exited cleanly ({a.ExitCode})");
        var left = await s.KeysInProgressAsync();
        s.Check(left == 0, $"every claim was released on stop ({left} left in progress)");
        s.Check(a.Count("outcome=released") >= 8, $"the cancelled consumers released their claims ({a.Count("outcome=released")})");
        s.Check((await s.LedgerCountsAsync()).Count == 0, "no payment ran (all were cancelled) before b starts");
        s.StartWorker("b", ("Worker__ConcurrentMessageLimit", "24"), ("Worker__PrefetchCount", "32"));
        await s.DrainAsync(TimeSpan.FromSeconds(90));
        await s.FinishAsync();
    }

    [Fact]
    public async Task S16_BadInput_EachEndsInTheErrorQueueWithAReason_OthersUnaffected()
    {
        await using var s = await Scenario.StartAsync(cluster, output, "16-bad-input");
        s.StartWorker("w1");
        await s.WaitForConsumersAsync(1);
        var ids = Ids(30);
        await s.SendPaymentsAsync(ids.Take(15).ToList(), copies: 2);

        var payment = new { paymentId = Guid.NewGuid(), amount = 1m, currency = "EUR" };
        await s.SendRawAsync(Scenario.Payments, Scenario.Envelope(null, payment), "no-message-id");
        var notGuid = Encoding.UTF8.GetString(Scenario.Envelope(Guid.Empty, payment)).Replace("00000000-0000-0000-0000-000000000000", "not-a-guid", StringComparison.Ordinal);
        await s.SendRawAsync(Scenario.Payments, Encoding.UTF8.GetBytes(notGuid), "message-id-not-a-guid", p => p.MessageId = "not-a-guid");
        await s.SendRawAsync(Scenario.Payments, Encoding.UTF8.GetBytes("{\"messageId\": \"unterminated"), "body-does-not-parse", p => p.MessageId = Guid.NewGuid().ToString());
        var big = new byte[10 * 1024 * 1024];
        Array.Fill(big, (byte)'x');
        await s.SendRawAsync(Scenario.Payments, big, "body-10-mib", p => p.MessageId = Guid.NewGuid().ToString());
        await s.SendExternalAsync("ext-no-id", messageId: null, testId: "external-no-message-id", expectError: true);

        await s.SendPaymentsAsync(ids.Skip(15).ToList(), copies: 2);
        await s.DrainAsync(TimeSpan.FromSeconds(90));

        foreach (var (id, reason) in s.Errors)
            s.Log($"reason for {id}: {reason}");
        s.Check(s.Errors.TryGetValue("no-message-id", out var r1) && r1.Contains("MessageId", StringComparison.Ordinal), "no MessageId: the reason says so");
        s.Check(s.Errors.TryGetValue("external-no-message-id", out var r2) && r2.Contains("message_id", StringComparison.Ordinal), "no AMQP message_id on the plain-JSON queue: the reason says so");
        s.Check(!s.Workers[0].HasExited, "the worker kept running");
        await s.FinishAsync();
    }
}
