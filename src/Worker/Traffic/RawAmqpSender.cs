using System.Collections.Concurrent;
using System.Text.Json;
using Dedup.Worker.Consumers;
using Dedup.Worker.Contracts;
using RabbitMQ.Client;

namespace Dedup.Worker.Traffic;

/// <summary>
/// Publishes <see cref="ExternalPayment"/> as a producer that is not MassTransit would: bare JSON to the default
/// exchange with routing key <c>external-payments</c>, the AMQP <c>message_id</c> property as the dedup id, persistent,
/// mandatory, and waits for the broker's confirm. Channels are pooled (a channel is not shared between publishes).
/// </summary>
internal sealed class RawAmqpSender : ITrafficSender, IAsyncDisposable
{
    static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    static readonly CreateChannelOptions Confirms = new(publisherConfirmationsEnabled: true, publisherConfirmationTrackingEnabled: true);

    readonly IConnection _connection;
    readonly ConcurrentBag<IChannel> _channels = [];

    public RawAmqpSender(IConnection connection) => _connection = connection;

    public async Task SendAsync(PlannedMessage message, CancellationToken cancellationToken)
    {
        if (!_channels.TryTake(out var channel))
            channel = await _connection.CreateChannelAsync(Confirms, cancellationToken);

        var body = JsonSerializer.SerializeToUtf8Bytes(new ExternalPayment(message.Id, message.Amount, "EUR"), Json);
        var properties = new BasicProperties
        {
            MessageId = message.AmqpMessageId,
            ContentType = "application/json",
            DeliveryMode = DeliveryModes.Persistent,
        };
        try
        {
            await channel.BasicPublishAsync(string.Empty, ExternalPaymentConsumer.Queue, mandatory: true, properties, body, cancellationToken);
        }
        catch (Exception)
        {
            // A channel the broker closed stays closed: never hand it to the next send.
            await DisposeQuietlyAsync(channel);
            throw;
        }

        _channels.Add(channel);
    }

    public async ValueTask DisposeAsync()
    {
        while (_channels.TryTake(out var channel))
            await DisposeQuietlyAsync(channel);
    }

    static async ValueTask DisposeQuietlyAsync(IChannel channel)
    {
        try
        {
            await channel.DisposeAsync();
        }
        catch (Exception exception) when (exception is RabbitMQ.Client.Exceptions.RabbitMQClientException or IOException or ObjectDisposedException)
        {
            // Closing a channel whose connection is gone: nothing left to release.
        }
    }
}
