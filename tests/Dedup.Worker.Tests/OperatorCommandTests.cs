using System.Text.Json;
using Dedup.Operations;
using Dedup.Protocol;
using Dedup.Testing;
using Dedup.Worker.Consumers;
using Dedup.Worker.Contracts;
using Dedup.Worker.Ledger;
using Dedup.Worker.Operator;
using Dedup.Worker.Settings;
using Dedup.Worker.Tests.Support;
using MassTransit;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit;
using Xunit.Abstractions;

namespace Dedup.Worker.Tests;

/// <summary>
/// Issue 13: the operator's commands run as processes (<c>Dedup.Worker inspect|forget|stats</c>) on the records a real
/// worker wrote, with the worker's settings from the environment (a virtual host of its own: the endpoint's address
/// has it in its path, and so the key).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class OperatorCommandTests(WorkerServers servers, ITestOutputHelper output)
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);
    static readonly TimeSpan Command = TimeSpan.FromSeconds(30);

    // A completed payment: inspect finds it by MessageId and queue; forget lets its next copy be claimed above the
    // forgotten epoch, and the worker's takeover check finds the payment in the ledger, so it is not charged twice.
    [Fact]
    public async Task InspectForgetStats_OnAPaymentTheWorkerCompleted_ForgottenCopyIsClaimedAboveItsEpochAndNotChargedTwice()
    {
        await using var scope = await servers.NewScopeAsync("operator");
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(Startup);
        var bus = await scope.StartBusAsync();
        try
        {
            var (payment, messageId) = (new ChargePayment(Guid.NewGuid(), 42m, "EUR"), Guid.NewGuid());
            var endpoint = await bus.GetSendEndpoint(new Uri("queue:payments"));
            await endpoint.Send(payment, c => c.MessageId = messageId);
            await scope.SettledExecutionsAsync([payment.PaymentId.ToString()], "payments", Settle);

            await RunAsync(scope, "inspect", messageId.ToString(), "--endpoint", "payments");
            var first = Json(await RunAsync(scope, "inspect", messageId.ToString(), "--endpoint", "payments", "--json"));
            var forget = await RunAsync(scope, "forget", messageId.ToString(), "--endpoint", "payments");
            await endpoint.Send(payment, c => c.MessageId = messageId);
            var key = first.GetProperty("key").GetString()!;
            await UntilCompletedAboveAsync(scope, key, first.GetProperty("epoch").GetInt64());
            var again = Json(await RunAsync(scope, "inspect", messageId.ToString(), "--endpoint", "payments", "--consumer", "ChargePaymentConsumer", "--json"));
            var stats = Json(await RunAsync(scope, "stats", "--json"));
            var executions = await scope.PaymentExecutionsAsync([payment.PaymentId.ToString()]);

            Assert.Equal("completed", first.GetProperty("state").GetString());
            Assert.StartsWith($"dedup-{scope.VirtualHost}:{{", key, StringComparison.Ordinal);
            Assert.Contains("forgotten: ", forget, StringComparison.Ordinal);
            Assert.Equal(key, again.GetProperty("key").GetString());
            Assert.True(again.GetProperty("result").GetProperty("recovered").GetBoolean(), again.ToString());
            Assert.Equal([1L], executions);
            Assert.Equal(1, stats.GetProperty("records").GetProperty("completed").GetInt64());
            Assert.True(stats.GetProperty("exact").GetBoolean());
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    // A paused owner: forget refuses its live lease; forced, it fences the owner off: the next owner's epoch is higher,
    // its takeover check raises the ledger's fence, and the paused owner's ledger write at the old epoch is refused.
    [Fact]
    public async Task Forget_LiveLease_IsRefused_AndForcedKeepsTheLedgerFencedAgainstThePausedOwner()
    {
        await using var scope = await servers.NewScopeAsync("forget");
        var (paymentId, messageId) = (Guid.NewGuid().ToString(), Guid.NewGuid());
        await using var provider = Library(scope);
        var (store, records) = (provider.GetRequiredService<IDedupStore>(), provider.GetRequiredService<DedupRecords>());
        var key = records.KeyForMessage(messageId, $"rabbitmq://localhost/{scope.VirtualHost}/payments", typeof(ChargePaymentConsumer).FullName!);
        var lease = TimeSpan.FromMinutes(5); // held by the paused owner for the whole test
        var pausedOwner = DedupKey.NewOwnerToken();
        var paused = await store.ClaimAsync(key, pausedOwner, "fp", lease, TimeSpan.FromHours(1), default);

        await RunAsync(scope, "inspect", messageId.ToString(), "--endpoint", "payments");
        var refused = await WorkerProcess.RunAsync(scope.Environment, Command, "forget", messageId.ToString(), "--endpoint", "payments");
        output.WriteLine($"$ Dedup.Worker forget {messageId} --endpoint payments\n{refused.Output}\n");
        var forced = await RunAsync(scope, "forget", messageId.ToString(), "--endpoint", "payments", "--force", "--json");
        var next = await store.ClaimAsync(key, DedupKey.NewOwnerToken(), "fp", lease, TimeSpan.FromHours(1), default);
        using var redis = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString);
        var ledger = new RedisLedger(redis, new LedgerSettings { KeyPrefix = scope.LedgerPrefix }, new DedupOptions());
        var check = await ledger.TakeOverPaymentAsync(paymentId, new Fence(key, next.Epoch), default);

        Assert.Equal(OperatorCommands.Refused, refused.ExitCode);
        Assert.Contains("refused: an owner holds a live lease", refused.Output, StringComparison.Ordinal);
        Assert.Equal("forgotten", Json(forced).GetProperty("outcome").GetString());
        Assert.True(next.Epoch > paused.Epoch, $"epoch {next.Epoch} after {paused.Epoch}");
        Assert.Equal(paused.Epoch, next.PreviousEpoch); // so the takeover check was asked
        Assert.False(check.Applied);
        await Assert.ThrowsAsync<StaleEpochException>(() => ledger.RecordPaymentAsync(
            new PaymentEntry(paymentId, 1m, "EUR", "payments", messageId.ToString(), new Fence(key, paused.Epoch)), default));
        Assert.False(await store.CompleteAsync(key, pausedOwner, paused.Epoch, ReadOnlyMemory<byte>.Empty, TimeSpan.FromHours(1), default));
    }

    /// <summary>Runs an operator command to its end; it must exit 0. Returns its output (also written to the test's output).</summary>
    async Task<string> RunAsync(WorkerScope scope, params string[] args)
    {
        var process = await WorkerProcess.RunAsync(scope.Environment, Command, args);
        output.WriteLine($"$ Dedup.Worker {string.Join(' ', args)}\n{process.Output}\n");
        Assert.True(process.ExitCode == 0, $"exit code {process.ExitCode}:\n{process.Output}");
        return process.Output;
    }

    static JsonElement Json(string text) => JsonDocument.Parse(text).RootElement;

    static ServiceProvider Library(WorkerScope scope)
    {
        var services = new ServiceCollection();
        services.AddDedup(o => o.KeyPrefix = scope.Environment["Dedup__KeyPrefix"]);
        services.AddDedupRedisStore(scope.Environment["Redis__Configuration"]);
        return services.BuildServiceProvider();
    }

    static async Task UntilCompletedAboveAsync(WorkerScope scope, string key, long epoch)
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(scope.Environment["Redis__Configuration"]);
        var db = redis.GetDatabase();
        RedisValue[] fields = [];
        await Eventually.UntilAsync(
            async () =>
            {
                fields = await db.HashGetAsync(key, ["s", "e"]);
                return fields[0] == "c" && (long)fields[1] > epoch;
            },
            Settle,
            () => $"{key} is s={fields.ElementAtOrDefault(0)} e={fields.ElementAtOrDefault(1)}, not completed above epoch {epoch}");
    }
}
