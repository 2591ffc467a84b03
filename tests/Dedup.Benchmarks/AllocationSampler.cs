using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace Dedup.Benchmarks;

/// <summary>
/// What a process allocates, by type, sampled by the runtime itself (<c>-- soak --alloc-types</c>): the GC raises an
/// AllocationTick event about every 100 KB allocated, naming the type of the object that crossed the mark, so over a
/// long row each type's share of the ticks is its share of the bytes. Listens in-process (an <see cref="EventListener"/>
/// on the runtime's provider, GC keyword, verbose), so no tool needs to attach.
/// </summary>
internal sealed class AllocationSampler : EventListener
{
    const EventKeywords GcKeyword = (EventKeywords)0x1;

    readonly ConcurrentDictionary<string, long> _bytesByType = new();
    volatile bool _recording;

    public void Start() => _recording = true;

    public void Stop() => _recording = false;

    /// <summary>The sampled types, largest first, with their share of the sampled bytes.</summary>
    public IReadOnlyList<(string Type, double Share)> Top(int count)
    {
        var total = (double)_bytesByType.Values.Sum();
        return total == 0
            ? []
            : _bytesByType.OrderByDescending(p => p.Value).Take(count).Select(p => (p.Key, p.Value / total)).ToList();
    }

    protected override void OnEventSourceCreated(EventSource eventSource)
    {
        if (eventSource.Name == "Microsoft-Windows-DotNETRuntime")
            EnableEvents(eventSource, EventLevel.Verbose, GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs eventData)
    {
        if (!_recording || eventData.EventName is null || !eventData.EventName.StartsWith("GCAllocationTick", StringComparison.Ordinal) || eventData.PayloadNames is null)
            return;

        var typeIndex = eventData.PayloadNames.IndexOf("TypeName");
        var amountIndex = eventData.PayloadNames.IndexOf("AllocationAmount64");
        if (typeIndex < 0 || eventData.Payload is not { } payload)
            return;

        var type = payload[typeIndex] as string ?? "?";
        var amount = amountIndex >= 0 ? Convert.ToInt64(payload[amountIndex], System.Globalization.CultureInfo.InvariantCulture) : 100_000;
        _bytesByType.AddOrUpdate(type, amount, (_, sum) => sum + amount);
    }
}
