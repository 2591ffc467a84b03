using System.Text;
using System.Text.Json;
using Dedup.Worker.Contracts;
using Dedup.Worker.Tests.Support;
using MassTransit;
using RabbitMQ.Client;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>Duplicates reach the worker process from a MassTransit producer and from a plain AMQP producer; the ledger shows one execution per payment.</summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class LedgerTests(WorkerServers servers)
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    static readonly TimeSpan Settle = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task MassTransitProducer_ThreeCopiesOfEachPayment_OneLedgerEntryPerPayment()
    {
        await using var scope = await servers.NewScopeAsync("mt");
        scope.Environment["Worker__PaymentWorkTime"] = "00:00:00.050"; // copies sent together overlap
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(Startup);

        var bus = await scope.StartBusAsync();
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri("queue:payments"));
            var payments = Enumerable.Range(0, 30).Select(i => (Payment: new ChargePayment(Guid.NewGuid(), 10 + i, "EUR"), MessageId: Guid.NewGuid())).ToList();
            Task Send((ChargePayment Payment, Guid MessageId) p) => endpoint.Send(p.Payment, c => c.MessageId = p.MessageId);

            // Two copies at the same moment (a producer retry racing its original), then a third later (a redelivery).
            await Task.WhenAll(payments.SelectMany(p => new[] { Send(p), Send(p) }));
            await Task.WhenAll(payments.Select(Send));

            var ids = payments.Select(p => p.Payment.PaymentId.ToString()).ToList();
            var executions = await scope.SettledExecutionsAsync(ids, "payments", Settle);
            Assert.All(executions, n => Assert.Equal(1, n));
            Assert.Equal(ids.Count, (await scope.LedgerEntriesAsync(ids)).Count);
        }
        finally
        {
            await bus.StopAsync();
        }
    }

    [Fact]
    public async Task PlainAmqpProducer_ThreeCopiesWithTheSameMessageId_OneLedgerEntryPerPayment()
    {
        await using var scope = await servers.NewScopeAsync("amqp");
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(Startup); // the worker declares external-payments

        await using var connection = await scope.ConnectAmqpAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));

        // Half the producers use Guid message ids, half their own strings; the third copy comes without a content type.
        var payments = Enumerable.Range(0, 20)
            .Select(i => (Id: $"inv-{scope.VirtualHost}-{i}", MessageId: i % 2 == 0 ? Guid.NewGuid().ToString() : $"invoice-{i}-attempt-1"))
            .ToList();
        foreach (var copy in new[] { "application/json", "application/json", null })
        {
            foreach (var (id, messageId) in payments)
            {
                var body = Encoding.UTF8.GetBytes($$"""{"paymentId":"{{id}}","amount":12.50,"currency":"EUR"}""");
                var properties = new BasicProperties { MessageId = messageId, ContentType = copy, DeliveryMode = DeliveryModes.Persistent };
                await channel.BasicPublishAsync(string.Empty, "external-payments", mandatory: true, properties, body);
            }
        }

        var executions = await scope.SettledExecutionsAsync([.. payments.Select(p => p.Id)], "external-payments", Settle);
        Assert.All(executions, n => Assert.Equal(1, n));
        var entries = await scope.LedgerEntriesAsync(payments.Select(p => p.Id));
        Assert.Equal(
            payments.Select(p => $"{p.Id} {p.MessageId}").Order(),
            entries.Select(e => $"{e.GetProperty("paymentId").GetString()} {e.GetProperty("messageId").GetString()}").Order());
    }

    [Fact]
    public async Task PlainAmqpProducer_NoMessageId_GoesToTheErrorQueueWithoutRunning()
    {
        await using var scope = await servers.NewScopeAsync("noid");
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(Startup);

        await using var connection = await scope.ConnectAmqpAsync();
        await using var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true));
        var id = $"no-id-{scope.VirtualHost}";
        var body = JsonSerializer.SerializeToUtf8Bytes(new { paymentId = id, amount = 1.5m, currency = "EUR" });
        await channel.BasicPublishAsync(string.Empty, "external-payments", mandatory: true, new BasicProperties { ContentType = "application/json" }, body);

        await Eventually.UntilAsync(async () => await scope.QueueMessagesAsync("external-payments_error") == 1, Settle, () => "the message in external-payments_error");
        Assert.Equal(0, (await scope.PaymentExecutionsAsync([id]))[0]);
    }

    [Fact]
    public async Task ThreeWorkers_OneQueue_DuplicatesInFlight_OneLedgerEntryPerPayment()
    {
        await using var scope = await servers.NewScopeAsync("scale");
        scope.Environment["Worker__PaymentWorkTime"] = "00:00:00.100"; // long enough for copies to meet in flight
        scope.Environment["Worker__ConcurrentMessageLimit"] = "4";
        scope.Environment["Worker__PrefetchCount"] = "4";
        await using var first = scope.StartWorker();
        await using var second = scope.StartWorker();
        await using var third = scope.StartWorker();
        await Task.WhenAll(first.WaitStartedAsync(Startup), second.WaitStartedAsync(Startup), third.WaitStartedAsync(Startup));

        var bus = await scope.StartBusAsync();
        try
        {
            var endpoint = await bus.GetSendEndpoint(new Uri("queue:payments"));
            var payments = Enumerable.Range(0, 60).Select(i => (Payment: new ChargePayment(Guid.NewGuid(), i, "EUR"), MessageId: Guid.NewGuid())).ToList();

            // Three copies of every payment back to back: with a prefetch of 4 per worker they spread over the workers.
            await Task.WhenAll(payments.SelectMany(p => Enumerable.Repeat(p, 3)).Select(p => endpoint.Send(p.Payment, c => c.MessageId = p.MessageId)));

            var ids = payments.Select(p => p.Payment.PaymentId.ToString()).ToList();
            var executions = await scope.SettledExecutionsAsync(ids, "payments", Settle);
            Assert.All(executions, n => Assert.Equal(1, n));

            var entries = await scope.LedgerEntriesAsync(ids);
            Assert.Equal(ids.Count, entries.Count);
            var writers = entries.Select(e => e.GetProperty("worker").GetString()).Distinct().Count();
            Assert.True(writers >= 2, $"Only {writers} of the three workers ran payments; the test did not exercise scale-out.");
        }
        finally
        {
            await bus.StopAsync();
        }
    }
}
