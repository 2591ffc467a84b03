using System.Text;
using Dedup.Filters.Tests.Filter;
using Dedup.Filters.Tests.RabbitMq;
using Dedup.Testing;
using MassTransit;
using RabbitMQ.Client;

namespace Dedup.Filters.Tests.RedTeam;

/// <summary>
/// Red team 7: a producer no one here wrote. A plain RabbitMQ.Client publishes raw JSON (no MassTransit envelope) to an
/// endpoint that reads raw JSON, naming the message by the AMQP <c>message_id</c> property (README: a message is keyed by
/// its MessageId; no usable MessageId is a clear error and the message goes to the error queue, never lost).
/// </summary>
[Trait("Needs", "RabbitMQ")]
[Trait("Needs", "Redis")]
[Collection("rabbitmq")]
public sealed class RedTeam7RawClientTests(RabbitMqFixture rabbit, RedisFixture redis)
{
    [Fact]
    public async Task RedTeam7_RawJsonFromAPlainAmqpClient_SameMessageIdTwice_RunsOnce()
    {
        await using var bus = await StartAsync();
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var (id, paymentId) = (Guid.NewGuid().ToString(), Guid.NewGuid());
        var body = $$"""{"paymentId":"{{paymentId}}","amount":7}""";

        await PublishAsync(channel, bus.Queue, body, id);
        await PublishAsync(channel, bus.Queue, body, id);
        await bus.Deliveries.WaitAsync<ChargePayment>(2);

        Assert.Equal(1, bus.Ledger.RunsOf(paymentId));
        Assert.All(bus.Deliveries.Of<ChargePayment>(), Assert.Null);
    }

    [Fact]
    public async Task RedTeam7_RawJsonFromAPlainAmqpClient_MessageIdNotAGuid_GoesToTheErrorQueueNamingIt()
    {
        await using var bus = await StartAsync();
        await using var connection = await ConnectAsync();
        await using var channel = await connection.CreateChannelAsync();
        var paymentId = Guid.NewGuid();

        await PublishAsync(channel, bus.Queue, $$"""{"paymentId":"{{paymentId}}","amount":7}""", "order-17");
        await bus.Deliveries.WaitAsync<ChargePayment>(1);

        var fault = Assert.IsType<DedupKeyException>(Assert.Single(bus.Deliveries.Of<ChargePayment>()));
        Assert.Contains("has no MessageId", fault.Message, StringComparison.Ordinal);
        Assert.Equal(0, bus.Ledger.RunsOf(paymentId));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error") == 0 && DateTime.UtcNow < deadline)
            await Task.Delay(100);
        Assert.Equal(1, await rabbit.Server.QueueMessageCountAsync(bus.Queue + "_error"));
    }

    Task<RabbitBus> StartAsync() =>
        RabbitBus.StartAsync<ChargeConsumer>(rabbit.Server, redis.Server,
            endpoint: (e, _) => e.UseRawJsonDeserializer(RawSerializerOptions.AnyMessageType, isDefault: true));

    Task<IConnection> ConnectAsync() =>
        new ConnectionFactory
        {
            HostName = rabbit.Server.Host,
            Port = rabbit.Server.Port,
            UserName = rabbit.Server.Username,
            Password = rabbit.Server.Password,
        }.CreateConnectionAsync();

    static async Task PublishAsync(IChannel channel, string queue, string json, string messageId)
    {
        var properties = new BasicProperties { MessageId = messageId, ContentType = "application/json", DeliveryMode = DeliveryModes.Persistent };
        await channel.BasicPublishAsync(string.Empty, queue, mandatory: false, properties, Encoding.UTF8.GetBytes(json));
    }
}
