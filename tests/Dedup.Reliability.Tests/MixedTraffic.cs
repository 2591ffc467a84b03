using System.Diagnostics;

namespace Dedup.Reliability.Tests;

/// <summary>
/// The steady traffic of scenarios 17 and 18: each tenth of a second a few new payments and quote requests (a fifth of
/// them requests), and the copies that are due: a share of the messages is sent again, at once (meeting the original in
/// flight) or up to 3 s later (meeting its record, or a claim whose owner died). A requester that retries sends the
/// request again with the same MessageId (the dedup key) and a new RequestId, answered at the scenario's reply queue.
/// </summary>
public sealed class MixedTraffic(Scenario scenario, Uri replyAddress, Random random)
{
    readonly List<(string QuoteId, Guid RequestId)> _requests = [];

    /// <summary>
    /// Settings for the workers under this traffic: simulated work per payment and quote, and every completion held
    /// 200 ms after its consumer (the ledger write, the reply sent) by a test hook, so that faults land in the window
    /// between a side effect and its completion.
    /// </summary>
    public static (string, string)[] WorkerSettings { get; } =
    [
        ("Worker__PaymentWorkTime", "00:00:00.050"), ("Worker__QuoteWorkTime", "00:00:00.020"),
        ("Worker__Faults__PaymentId", "*"), ("Worker__Faults__PauseBeforeComplete", "00:00:00.200"),
    ];

    /// <summary>Sends for <paramref name="duration"/>, then the copies still due; returns when the last is sent.</summary>
    public async Task RunAsync(TimeSpan duration, int uniquePerSecond, double duplicateShare, CancellationToken cancellationToken)
    {
        var copies = new PriorityQueue<Func<Task>, TimeSpan>();
        var clock = Stopwatch.StartNew();
        var sequence = 0;
        while (clock.Elapsed < duration || copies.Count > 0)
        {
            if (clock.Elapsed < duration)
            {
                for (var i = 0; i < uniquePerSecond / 10; i++)
                {
                    var send = NewMessage(sequence++);
                    await send();
                    if (random.NextDouble() < duplicateShare)
                        copies.Enqueue(send, clock.Elapsed + TimeSpan.FromMilliseconds(random.NextDouble() < 0.3 ? 0 : random.Next(100, 3000)));
                }
            }

            while (copies.TryPeek(out var copy, out var due) && due <= clock.Elapsed)
            {
                copies.Dequeue();
                await copy();
            }

            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>
    /// How the request copies sent so far were answered: copies without a reply, and quotes whose copies got more than
    /// one quote number (the work ran again and answered differently).
    /// </summary>
    public RequestAnswers Answers(ReplyRecorder replies)
    {
        (string QuoteId, Guid RequestId)[] requests;
        lock (_requests)
            requests = [.. _requests];
        var unanswered = requests.Count(r => replies.RepliesTo(r.RequestId).Count == 0);
        var numbers = requests.GroupBy(r => r.QuoteId).ToDictionary(
            g => g.Key,
            g => g.SelectMany(r => replies.RepliesTo(r.RequestId)).Select(reply => reply.QuoteNumber).Distinct().Count());
        return new RequestAnswers(requests.Length, unanswered, numbers.Count, numbers.Count(n => n.Value > 1));
    }

    /// <summary>Checks that every request copy was answered, and only ever with its quote's one number; returns what it found.</summary>
    public RequestAnswers CheckAnswers(ReplyRecorder replies)
    {
        var answers = Answers(replies);
        scenario.Check(answers.Unanswered == 0, $"every copy of every request was answered ({answers.Unanswered} of {answers.Copies} not)");
        scenario.Check(answers.Mismatched == 0, $"every copy of a request got the original's quote number ({answers.Mismatched} of {answers.Quotes} quotes answered with two numbers)");
        scenario.Log($"replies {replies.Total} to {answers.Copies} request copies");
        return answers;
    }

    /// <summary>One new message, as a function that sends it (again, for a copy).</summary>
    Func<Task> NewMessage(int sequence)
    {
        if (random.NextDouble() >= 0.2)
        {
            var payment = Guid.NewGuid();
            return () => scenario.SendPaymentAsync(payment);
        }

        var quoteId = $"q-{sequence}";
        var messageId = Guid.NewGuid();
        return () =>
        {
            var requestId = Guid.NewGuid();
            lock (_requests)
                _requests.Add((quoteId, requestId));
            return scenario.SendQuoteRequestAsync(quoteId, messageId, requestId, replyAddress);
        };
    }
}

/// <summary>What <see cref="MixedTraffic.Answers"/> found: request copies sent, copies not answered, quotes, quotes answered with two numbers.</summary>
public sealed record RequestAnswers(int Copies, int Unanswered, int Quotes, int Mismatched);
