namespace Dedup.Testing;

/// <summary>
/// Keeps the first and the last lines a long-running process printed, for error messages: a boot failure's cause
/// is usually near the start, a crash near the end.
/// </summary>
internal sealed class OutputTail
{
    private const int HeadCapacity = 25;
    private const int TailCapacity = 200;

    private readonly List<string> _head = new(HeadCapacity);
    private readonly Queue<string> _tail = new();
    private int _dropped;

    /// <summary>Adds one line (null, the end-of-stream marker, is ignored).</summary>
    public void Add(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_tail)
        {
            if (_head.Count < HeadCapacity)
            {
                _head.Add(line);
                return;
            }

            _tail.Enqueue(line);
            if (_tail.Count > TailCapacity)
            {
                _tail.Dequeue();
                _dropped++;
            }
        }
    }

    /// <summary>The first lines, then (after a gap marker when lines were left out) at most <paramref name="tailLines"/> last lines.</summary>
    public string Text(int tailLines = 40)
    {
        lock (_tail)
        {
            var skipped = _dropped + Math.Max(0, _tail.Count - tailLines);
            IEnumerable<string> lines = skipped > 0
                ? [.. _head, $"[... {skipped} lines left out ...]", .. _tail.Skip(_tail.Count - tailLines)]
                : [.. _head, .. _tail];
            return string.Join(Environment.NewLine, lines);
        }
    }
}
