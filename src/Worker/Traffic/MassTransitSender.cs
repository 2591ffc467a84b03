using System.Collections.Concurrent;
using Dedup.Worker.Consumers;
using Dedup.Worker.Contracts;
using MassTransit;

namespace Dedup.Worker.Traffic;

/// <summary>
/// Sends as a MassTransit producer would: payments and quote requests with a fixed MessageId (a producer that
/// retries sends the same one), requests with a RequestId and the requester's ResponseAddress. External payments
/// go through <paramref name="externalSender"/> (plain AMQP), or, when there is none, as MassTransit messages
/// whose MessageId stands for the AMQP message_id (the demo's in-memory transport has no AMQP properties).
/// </summary>
/// <param name="endpoints">The bus (or a consume context) to send with.</param>
/// <param name="responseAddress">Where quote requests ask for their replies.</param>
/// <param name="externalSender">Plain AMQP for external payments, or null.</param>
/// <param name="viaExchange">
/// Send to <c>exchange:&lt;queue&gt;</c> (the queue's own exchange, bound to it by the worker) instead of
/// <c>queue:&lt;queue&gt;</c>: for quorum queues, where MassTransit's declaration of a <c>queue:</c> address (a classic
/// queue) is refused by RabbitMQ.
/// </param>
internal sealed class MassTransitSender(ISendEndpointProvider endpoints, Uri responseAddress, ITrafficSender? externalSender, bool viaExchange = false) : ITrafficSender
{
    readonly ConcurrentDictionary<string, Task<ISendEndpoint>> _endpoints = new();

    public async Task SendAsync(PlannedMessage message, CancellationToken cancellationToken)
    {
        switch (message.Kind)
        {
            case MessageKind.Payment:
                await (await Endpoint(ChargePaymentConsumer.Queue)).Send(
                    new ChargePayment(Guid.Parse(message.Id), message.Amount, "EUR"),
                    context => context.MessageId = message.MessageId,
                    cancellationToken);
                break;

            case MessageKind.Quote:
                await (await Endpoint(GetQuoteConsumer.Queue)).Send(
                    new GetQuote(message.Id, "widget", (int)message.Amount),
                    context =>
                    {
                        context.MessageId = message.MessageId;
                        context.RequestId = message.RequestId;
                        context.ResponseAddress = responseAddress;
                    },
                    cancellationToken);
                break;

            case MessageKind.External when externalSender is not null:
                await externalSender.SendAsync(message, cancellationToken);
                break;

            case MessageKind.External:
                await (await Endpoint(ExternalPaymentConsumer.Queue)).Send(
                    new ExternalPayment(message.Id, message.Amount, "EUR"),
                    context => context.MessageId = DeterministicGuid(message.AmqpMessageId),
                    cancellationToken);
                break;
        }
    }

    Task<ISendEndpoint> Endpoint(string queue) =>
        _endpoints.GetOrAdd(queue, q => endpoints.GetSendEndpoint(new Uri($"{(viaExchange ? "exchange" : "queue")}:{q}")));

    static Guid DeterministicGuid(string id) =>
        Guid.TryParse(id, out var guid) ? guid : new Guid(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(id)).AsSpan(0, 16));
}
