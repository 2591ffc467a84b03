using System.Text;
using Dedup.Testing;
using Dedup.Worker.Contracts;
using Dedup.Worker.Tests.Support;
using MassTransit;
using RabbitMQ.Client;
using Xunit;

namespace Dedup.Worker.Tests;

/// <summary>
/// <c>Worker:QueueType=Quorum</c> on a real RabbitMQ node: the worker's queues are quorum queues with a delivery limit and
/// a dead-letter route to their error queue; duplicates run once; a Redis outage does not use up the delivery limit; a
/// message returned more often than the limit lands in the error queue.
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection(WorkerCollection.Name)]
public sealed class QuorumQueueTests(WorkerServers servers)
{
    static readonly TimeSpan Startup = TimeSpan.FromSeconds(60);
    static readonly TimeSpan Settle = TimeSpan.FromSeconds(30);

    /// <summary>A producer's address for a quorum queue: <c>queue:payments</c> would declare it again as a classic queue.</summary>
    static readonly Uri Payments = new("exchange:payments");

    async Task<WorkerScope> QuorumScopeAsync(string name, int deliveryLimit)
    {
        var scope = await servers.NewScopeAsync(name);
        scope.Environment["Worker__QueueType"] = "Quorum";
        scope.Environment["Worker__DeliveryLimit"] = deliveryLimit.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return scope;
    }

    [Fact]
    public async Task QueueTypeQuorum_DuplicatesFromBothProducers_QuorumQueuesAndOneExecutionEach()
    {
        await using var scope = await QuorumScopeAsync("qq", deliveryLimit: 3);
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(Startup);

        var queues = await scope.ListQueuesAsync("type", "arguments");
        foreach (var queue in new[] { "payments", "quotes", "external-payments" })
        {
            Assert.Equal("quorum", queues[queue][0]);
            var arguments = queues[queue][1];
            Assert.Contains("{\"x-delivery-limit\",3}", arguments, StringComparison.Ordinal);
            Assert.Contains($"{{\"x-dead-letter-exchange\",\"{queue}_error\"}}", arguments, StringComparison.Ordinal);
            Assert.Contains("{\"x-dead-letter-strategy\",\"at-least-once\"}", arguments, StringComparison.Ordinal);
            Assert.Equal(["quorum", "[{\"x-queue-type\",\"quorum\"}]"], queues[queue + "_error"]);
        }

        var payments = Enumerable.Range(0, 10).Select(i => (Payment: new ChargePayment(Guid.NewGuid(), i, "EUR"), MessageId: Guid.NewGuid())).ToList();
        var bus = await scope.StartBusAsync();
        try
        {
            var endpoint = await bus.GetSendEndpoint(Payments);
            Task Send((ChargePayment Payment, Guid MessageId) p) => endpoint.Send(p.Payment, c => c.MessageId = p.MessageId);
            await Task.WhenAll(payments.SelectMany(p => new[] { Send(p), Send(p) }));
            await Task.WhenAll(payments.Select(Send));
        }
        finally
        {
            await bus.StopAsync();
        }

        var external = Enumerable.Range(0, 10).Select(i => $"inv-{scope.VirtualHost}-{i}").ToList();
        await using (var connection = await scope.ConnectAmqpAsync())
        await using (var channel = await connection.CreateChannelAsync(new CreateChannelOptions(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true)))
        {
            foreach (var id in external.Concat(external))
                await PublishExternalAsync(channel, id, messageId: id + "-attempt-1");

            // No message_id: a fault, moved by MassTransit to the error queue the worker declared at start.
            await PublishExternalAsync(channel, $"no-id-{scope.VirtualHost}", messageId: null);
        }

        Assert.All(await scope.SettledExecutionsNowAsync([.. payments.Select(p => p.Payment.PaymentId.ToString())], "payments", Settle), n => Assert.Equal(1, n));
        Assert.All(await scope.SettledExecutionsNowAsync(external, "external-payments", Settle), n => Assert.Equal(1, n));
        await Eventually.UntilAsync(async () => await scope.ReadyMessagesAsync("external-payments_error") == 1, Settle, () => "the message without message_id in external-payments_error");
    }

    /// <summary>
    /// Redis refuses every claim (at <c>maxmemory</c> with <c>noeviction</c>) while one payment is delivered again and
    /// again: each transient failure is returned once at most and then re-sent as a copy, so the message outlives many
    /// times the delivery limit of 1, and runs once when Redis takes claims again.
    /// </summary>
    [Fact]
    public async Task QueueTypeQuorum_RedisRefusingClaimsLongerThanTheLimit_PaymentSurvivesAndRunsOnce()
    {
        await using var dedupRedis = await RedisServer.StartAsync();
        await using var scope = await QuorumScopeAsync("qq-outage", deliveryLimit: 1);
        scope.Environment["Redis__Configuration"] = dedupRedis.ConnectionString;
        scope.Environment["Ledger__Redis"] = servers.Redis.ConnectionString;
        scope.Environment["Dedup__RedeliveryDelay"] = "00:00:00.050";
        scope.Environment["Dedup__MaxRedeliveryDelay"] = "00:00:00.200";
        scope.Environment["Dedup__StoreRetries"] = "0";
        scope.Environment["Logging__LogLevel__Dedup.Protocol.ClaimCoordinator"] = "Debug"; // event 51, "re-sent as a copy"
        await using var worker = scope.StartWorker();
        await worker.WaitStartedAsync(Startup);
        await dedupRedis.CliAsync("CONFIG", "SET", "maxmemory-policy", "noeviction");
        await dedupRedis.CliAsync("CONFIG", "SET", "maxmemory", "1");

        var payment = new ChargePayment(Guid.NewGuid(), 1, "EUR");
        var bus = await scope.StartBusAsync();
        try
        {
            await (await bus.GetSendEndpoint(Payments)).Send(payment, c => c.MessageId = Guid.NewGuid());
        }
        finally
        {
            await bus.StopAsync();
        }

        // Each copy was returned once before it was copied: three copies are three returns, over the limit of 1.
        const int Copies = 3;
        await Eventually.UntilAsync(() => Task.FromResult(Count(worker.Output, "re-sent as a copy") >= Copies), Settle, () => $"{Copies} copies; worker output:\n{worker.Output}");
        await dedupRedis.CliAsync("CONFIG", "SET", "maxmemory", "0");

        var executions = await scope.SettledExecutionsNowAsync([payment.PaymentId.ToString()], "payments", Settle);
        Assert.Equal(1, Assert.Single(executions));
        Assert.Equal(0, await scope.ReadyMessagesAsync("payments_error"));
        Assert.DoesNotContain("ClaimCoordinator[52]", worker.Output, StringComparison.Ordinal); // returned: not copyable
        Assert.DoesNotContain("ClaimCoordinator[53]", worker.Output, StringComparison.Ordinal); // returned: the copy failed
    }

    /// <summary>
    /// A message every worker dies on (SIGKILL while it holds it): each death returns it to the queue, and with a delivery
    /// limit of 1 the second return dead-letters it into <c>payments_error</c>, with RabbitMQ's reason, instead of
    /// dropping it.
    /// </summary>
    [Fact]
    public async Task QueueTypeQuorum_MessageReturnedMoreOftenThanTheLimit_DeadLetteredToTheErrorQueue()
    {
        await using var scope = await QuorumScopeAsync("qq-poison", deliveryLimit: 1);
        scope.Environment["Worker__PaymentWorkTime"] = "00:05:00"; // held until the worker is killed
        var payment = new ChargePayment(Guid.NewGuid(), 1, "EUR");
        var messageId = Guid.NewGuid();

        for (var death = 1; death <= 2; death++)
        {
            await using var worker = scope.StartWorker(); // disposing it kills it (SIGKILL)
            await worker.WaitStartedAsync(Startup);
            if (death == 1)
            {
                var bus = await scope.StartBusAsync();
                try
                {
                    await (await bus.GetSendEndpoint(Payments)).Send(payment, c => c.MessageId = messageId);
                }
                finally
                {
                    await bus.StopAsync();
                }
            }

            await Eventually.UntilAsync(
                async () => await scope.ReadyMessagesAsync("payments") == 0 && await scope.UnacknowledgedNowAsync() == 1,
                Settle,
                () => $"worker {death} holding the payment");
        }

        await Eventually.UntilAsync(async () => await scope.ReadyMessagesAsync("payments_error") == 1, Settle, () => "the payment in payments_error");
        Assert.Equal(0, await scope.ReadyMessagesAsync("payments"));
        var executions = await scope.PaymentExecutionsAsync([payment.PaymentId.ToString()]);
        Assert.Equal(0, Assert.Single(executions));

        await using var connection = await scope.ConnectAmqpAsync();
        await using var channel = await connection.CreateChannelAsync();
        var dead = await channel.BasicGetAsync("payments_error", autoAck: false);
        Assert.NotNull(dead);
        Assert.Equal(messageId.ToString(), dead.BasicProperties.MessageId);
        Assert.Equal("delivery_limit", Encoding.UTF8.GetString((byte[])dead.BasicProperties.Headers!["x-first-death-reason"]!));
        Assert.Equal("payments", Encoding.UTF8.GetString((byte[])dead.BasicProperties.Headers["x-first-death-queue"]!));
    }

    /// <summary>RabbitMQ cannot turn a classic queue into a quorum queue: the worker stops at start and says what to do.</summary>
    [Fact]
    public async Task QueueTypeQuorum_ClassicQueueOfTheSameNameExists_ExitsWithCode3NamingQueueAndSetting()
    {
        await using var scope = await QuorumScopeAsync("qq-classic", deliveryLimit: 5);
        await using (var connection = await scope.ConnectAmqpAsync())
        await using (var channel = await connection.CreateChannelAsync())
            await channel.QueueDeclareAsync("payments", durable: true, exclusive: false, autoDelete: false);

        await using var worker = await WorkerProcess.RunAsync(scope.Environment, Startup);

        Assert.Equal(3, worker.ExitCode);
        Assert.Contains($"RabbitMQ queue 'payments' (virtual host '{scope.VirtualHost}') exists as a classic queue, and Worker:QueueType is Quorum", worker.Output, StringComparison.Ordinal);
        Assert.Contains($"rabbitmqctl delete_queue -p {scope.VirtualHost} payments", worker.Output, StringComparison.Ordinal);
    }

    static async Task PublishExternalAsync(IChannel channel, string paymentId, string? messageId)
    {
        var body = Encoding.UTF8.GetBytes($$"""{"paymentId":"{{paymentId}}","amount":1.5,"currency":"EUR"}""");
        var properties = new BasicProperties { MessageId = messageId, ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent };
        await channel.BasicPublishAsync(string.Empty, "external-payments", mandatory: true, properties, body);
    }

    static int Count(string text, string value)
    {
        var count = 0;
        for (var at = text.IndexOf(value, StringComparison.Ordinal); at >= 0; at = text.IndexOf(value, at + value.Length, StringComparison.Ordinal))
            count++;
        return count;
    }
}
