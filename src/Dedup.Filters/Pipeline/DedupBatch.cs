using System.Collections;
using MassTransit;

namespace Dedup.Pipeline;

/// <summary>The batch a batch consumer sees: the messages MassTransit collected, without the duplicates.</summary>
internal sealed class DedupBatch<TMessage> : Batch<TMessage>
    where TMessage : class
{
    readonly IReadOnlyList<ConsumeContext<TMessage>> _messages;

    public DedupBatch(Batch<TMessage> collected, IReadOnlyList<ConsumeContext<TMessage>> messages)
    {
        Mode = collected.Mode;
        FirstMessageReceived = collected.FirstMessageReceived;
        LastMessageReceived = collected.LastMessageReceived;
        _messages = messages;
    }

    public BatchCompletionMode Mode { get; }

    public DateTime FirstMessageReceived { get; }

    public DateTime LastMessageReceived { get; }

    public int Length => _messages.Count;

    public ConsumeContext<TMessage> this[int index] => _messages[index];

    public IEnumerator<ConsumeContext<TMessage>> GetEnumerator() => _messages.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
