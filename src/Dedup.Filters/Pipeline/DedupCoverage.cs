using System.Text;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>What a message type on an endpoint is delivered to, and so whether dedup covers it.</summary>
internal enum CoverageKind
{
    /// <summary>A consumer: covered.</summary>
    Consumer,

    /// <summary>A batch consumer (<c>IConsumer&lt;Batch&lt;T&gt;&gt;</c>): covered, each message of a batch on its own.</summary>
    Batch,

    /// <summary>A saga or state machine saga: covered, before the repository loads the instance.</summary>
    Saga,

    /// <summary>The type is excluded (<see cref="DedupOptions.Exclude{T}"/>): not covered.</summary>
    Excluded,

    /// <summary>A job consumer (<c>IJobConsumer&lt;T&gt;</c>): runs after its delivery was acknowledged, so not covered.</summary>
    JobConsumer,

    /// <summary>A handler (<c>e.Handler&lt;T&gt;(...)</c>): not covered.</summary>
    Handler,

    /// <summary>A routing-slip activity (execute or compensate): not covered.</summary>
    Activity,
}

/// <summary>
/// Which endpoints and message types dedup covers and which it does not, collected by the configuration observers
/// while the bus is built, for the one line logged when it starts (<see cref="DedupStartupLog"/>).
/// </summary>
internal sealed class DedupCoverage
{
    readonly Lock _lock = new();
    readonly List<Entry> _entries = [];

    /// <summary>How dedup treats <typeparamref name="TMessage"/> delivered to the consumer <typeparamref name="TConsumer"/>.</summary>
    public static CoverageKind OfConsumer<TConsumer, TMessage>(DedupOptions options)
        where TConsumer : class
        where TMessage : class
    {
        if (BatchItemType(typeof(TMessage)) is { } item)
            return options.Excluded.Contains(item) ? CoverageKind.Excluded : CoverageKind.Batch;
        if (options.Excluded.Contains(typeof(TMessage)))
            return CoverageKind.Excluded;
        return typeof(TConsumer).GetInterfaces().Any(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IJobConsumer<>))
            ? CoverageKind.JobConsumer
            : CoverageKind.Consumer;
    }

    /// <summary>How dedup treats <typeparamref name="TMessage"/> delivered to a saga.</summary>
    public static CoverageKind OfSaga<TMessage>(DedupOptions options)
        where TMessage : class =>
        options.Excluded.Contains(typeof(TMessage)) ? CoverageKind.Excluded : CoverageKind.Saga;

    /// <summary>T when <paramref name="message"/> is <c>Batch&lt;T&gt;</c>.</summary>
    public static Type? BatchItemType(Type message) =>
        message.IsGenericType && message.GetGenericTypeDefinition() == typeof(Batch<>) ? message.GetGenericArguments()[0] : null;

    public void Add(Uri inputAddress, Type message, Type? target, CoverageKind kind)
    {
        var endpoint = inputAddress.AbsolutePath.TrimEnd('/');
        endpoint = endpoint[(endpoint.LastIndexOf('/') + 1)..];
        var entry = new Entry(endpoint, NameOf(BatchItemType(message) ?? message), target is null ? "handler" : NameOf(target), kind);
        lock (_lock)
        {
            if (!_entries.Contains(entry))
                _entries.Add(entry);
        }
    }

    /// <summary>The covered part of the start-up line: <c>payments: ChargePayment → ChargePaymentConsumer, OrderSubmitted → OrderState (saga) | quotes: ...</c></summary>
    public string Covered() => Describe(covered: true);

    /// <summary>The part that is not covered, in the same form.</summary>
    public string NotCovered() => Describe(covered: false);

    string Describe(bool covered)
    {
        Entry[] entries;
        lock (_lock)
            entries = [.. _entries.Where(e => IsCovered(e.Kind) == covered)];
        if (entries.Length == 0)
            return "nothing";

        var text = new StringBuilder();
        foreach (var endpoint in entries.GroupBy(e => e.Endpoint))
        {
            if (text.Length > 0)
                text.Append(" | ");
            text.Append(endpoint.Key).Append(": ");
            text.AppendJoin(", ", endpoint.Select(e => e.Kind switch
            {
                CoverageKind.Consumer => $"{e.Message} → {e.Target}",
                CoverageKind.Handler => $"{e.Message} → handler",
                CoverageKind.JobConsumer => $"{e.Message} → {e.Target} (job consumer)",
                _ => $"{e.Message} → {e.Target} ({e.Kind.ToString().ToLowerInvariant()})",
            }));
        }

        return text.ToString();
    }

    static bool IsCovered(CoverageKind kind) => kind is CoverageKind.Consumer or CoverageKind.Batch or CoverageKind.Saga;

    /// <summary>A type's name as code spells it: <c>SubmitJob&lt;RunReport&gt;</c>, not <c>SubmitJob`1</c>.</summary>
    static string NameOf(Type type)
    {
        if (!type.IsGenericType)
            return type.Name;
        var name = type.Name;
        var tick = name.IndexOf('`', StringComparison.Ordinal);
        return string.Concat(tick < 0 ? name : name[..tick], "<", string.Join(", ", type.GetGenericArguments().Select(NameOf)), ">");
    }

    sealed record Entry(string Endpoint, string Message, string Target, CoverageKind Kind);
}
