using System.CommandLine;
using System.CommandLine.Parsing;
using Dedup.Operations;
using Dedup.Worker.Consumers;
using Dedup.Worker.Settings;

namespace Dedup.Worker.Operator;

/// <summary>
/// The record an <c>inspect</c> or <c>forget</c> names: a MessageId or a business key (<c>--key</c>) on an endpoint and
/// consumer, built into the key exactly as the filter builds it (<see cref="DedupRecords.KeyForMessage"/>), or the
/// store key itself (<c>--store-key</c>, as a dedup log line shows it).
/// </summary>
internal sealed class RecordTarget
{
    // This worker's consumers, by the queue each reads: the default --consumer of an endpoint.
    static readonly Dictionary<string, Type> WorkerConsumers = new(StringComparer.Ordinal)
    {
        [ChargePaymentConsumer.Queue] = typeof(ChargePaymentConsumer),
        [GetQuoteConsumer.Queue] = typeof(GetQuoteConsumer),
        [ExternalPaymentConsumer.Queue] = typeof(ExternalPaymentConsumer),
    };

    readonly Argument<string?> _messageId = new("messageId")
    {
        Arity = ArgumentArity.ZeroOrOne,
        Description = "The message's MessageId (a Guid; MT-OriginalMessageId when a scheduler redelivered it).",
    };

    readonly Option<string?> _endpoint = new("--endpoint")
    {
        Description = "The receive endpoint: a queue name on RabbitMq:VirtualHost, or its address (rabbitmq://host/vhost/queue).",
    };

    readonly Option<string?> _consumer = new("--consumer")
    {
        Description = "The consumer or saga type: its full name, or the class name of one of this worker's consumers. Default: this worker's consumer of the endpoint's queue.",
    };

    readonly Option<string?> _key = new("--key")
    {
        Description = "A business key instead of the MessageId, for a message type keyed with KeyFor or KeyFromContext (external-payments: the AMQP message_id, a Guid in its 32-digit form).",
    };

    readonly Option<string?> _storeKey = new("--store-key")
    {
        Description = "The store key itself, as a dedup log line names it: <prefix>{<scope>:<id>}.",
    };

    public void AddTo(Command command)
    {
        command.Arguments.Add(_messageId);
        command.Options.Add(_endpoint);
        command.Options.Add(_consumer);
        command.Options.Add(_key);
        command.Options.Add(_storeKey);
        command.Validators.Add(Validate);
    }

    /// <summary>The store key the arguments name.</summary>
    public string Key(ParseResult parse, DedupRecords records, RabbitMqSettings rabbitMq)
    {
        if (parse.GetValue(_storeKey) is { } storeKey)
            return storeKey;

        // Validate made sure of the endpoint, the consumer and the MessageId.
        var endpoint = parse.GetValue(_endpoint)!;
        var consumer = ConsumerType(endpoint, parse.GetValue(_consumer))!;
        var address = EndpointAddress(endpoint, rabbitMq);
        return parse.GetValue(_key) is { } key
            ? records.KeyForCustomKey(key, address, consumer)
            : records.KeyForMessage(Guid.Parse(parse.GetValue(_messageId)!), address, consumer);
    }

    /// <summary>
    /// The endpoint's address as the worker's bus names it: <c>rabbitmq://host/queue</c> on the default virtual host,
    /// <c>rabbitmq://host/vhost/queue</c> on another (the filter's scope is the address's path and the consumer type).
    /// </summary>
    internal static string EndpointAddress(string endpoint, RabbitMqSettings rabbitMq)
    {
        if (endpoint.Contains("://", StringComparison.Ordinal))
            return endpoint;
        var virtualHost = rabbitMq.VirtualHost is "/" or "" ? string.Empty : Uri.EscapeDataString(rabbitMq.VirtualHost) + "/";
        var host = rabbitMq.Nodes is [var node, ..] ? node.Host : "localhost";
        return $"rabbitmq://{(host.Contains(':', StringComparison.Ordinal) ? $"[{host}]" : host)}/{virtualHost}{endpoint}";
    }

    static string? ConsumerType(string endpoint, string? consumer)
    {
        if (consumer is null)
            return WorkerConsumers.TryGetValue(QueueOf(endpoint), out var type) ? type.FullName : null;
        return WorkerConsumers.Values.FirstOrDefault(t => t.Name == consumer)?.FullName ?? consumer;
    }

    static string QueueOf(string endpoint) => endpoint.Contains("://", StringComparison.Ordinal)
        ? new Uri(endpoint).Segments[^1]
        : endpoint;

    void Validate(CommandResult result)
    {
        var (messageId, key, storeKey) = (result.GetValue(_messageId), result.GetValue(_key), result.GetValue(_storeKey));
        var given = new[] { messageId, key, storeKey }.Count(v => v is not null);
        if (given != 1)
        {
            result.AddError("Name the record once: a MessageId, --key <business key>, or --store-key <key>.");
            return;
        }

        if (messageId is not null && !Guid.TryParse(messageId, out _))
            result.AddError($"'{messageId}' is not a MessageId: a MessageId is a Guid. For another id (a business key, a non-Guid AMQP message_id) use --key.");
        if (storeKey is not null)
            return;

        if (result.GetValue(_endpoint) is not { } endpoint)
        {
            result.AddError("--endpoint is required with a MessageId or --key: the record is kept per endpoint and consumer.");
            return;
        }

        if (endpoint.Contains("://", StringComparison.Ordinal) && !Uri.TryCreate(endpoint, UriKind.Absolute, out _))
            result.AddError($"--endpoint '{endpoint}' does not parse as an address; give the queue name or rabbitmq://host/vhost/queue.");
        else if (ConsumerType(endpoint, result.GetValue(_consumer)) is null)
            result.AddError($"--consumer is required for endpoint '{endpoint}' (this worker's own queues are {string.Join(", ", WorkerConsumers.Keys)}): give the consumer type's full name.");
    }
}
