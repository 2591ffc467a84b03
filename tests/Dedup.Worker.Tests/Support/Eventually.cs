using System.Diagnostics;

namespace Dedup.Worker.Tests.Support;

/// <summary>
/// Waits for a condition on another process's state (the ledger in Redis, a queue in RabbitMQ): nothing there can
/// notify this test, so the condition is re-read every 100 ms until it holds or the deadline passes.
/// </summary>
internal static class Eventually
{
    public static async Task UntilAsync(Func<Task<bool>> condition, TimeSpan timeout, Func<string> describe)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout)
                throw new TimeoutException($"Not reached within {timeout}: {describe()}");
            await Task.Delay(100);
        }
    }
}
