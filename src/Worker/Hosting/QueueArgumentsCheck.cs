using System.Globalization;
using System.Text.RegularExpressions;
using Dedup.Worker.Settings;
using RabbitMQ.Client;
using RabbitMQ.Client.Exceptions;

namespace Dedup.Worker.Hosting;

/// <summary>
/// Before the bus starts: every queue of <see cref="WorkerQueues.All"/> that already exists must have the arguments the
/// worker declares it with. RabbitMQ never changes the type or the arguments of an existing queue: it refuses the
/// declaration (<c>PRECONDITION_FAILED - inequivalent arg</c>), and MassTransit would retry it for ever without the bus
/// starting. This check names the queue, what differs and what to do, and stops the start with exit code 3.
/// </summary>
/// <remarks>
/// A queue that does not exist is left for MassTransit to create (a passive declaration first, so nothing is created
/// here; RabbitMQ logs the passive declaration of a missing queue as a channel error, harmlessly); one that exists is declared again with the worker's arguments, which changes nothing when they agree. When
/// RabbitMQ refuses, it names one differing argument and its current value; the check declares again with that value, and
/// so on, until RabbitMQ accepts: the differences found are then all of them (RabbitMQ checks its arguments in a fixed
/// order of its own, so the first refusal is not necessarily about the queue type).
/// </remarks>
internal static partial class QueueArgumentsCheck
{
    const ushort NotFound = 404, PreconditionFailed = 406;
    const int MaxDeclarations = 20;
    const string QueueType = "x-queue-type", DeliveryLimit = "x-delivery-limit";

    public static async Task CheckAsync(IConnection connection, RabbitMqSettings rabbitMq, WorkerSettings worker, CancellationToken cancellationToken)
    {
        var problems = new List<string>();
        foreach (var (queue, arguments) in WorkerQueues.All(worker))
        {
            if (await CompareAsync(connection, queue, arguments, cancellationToken) is { } comparison)
                problems.Add(Explain(queue, comparison, rabbitMq, worker));
        }

        if (problems.Count > 0)
            throw new StartupCheckException(string.Join(" ", problems));
    }

    /// <summary>What an existing queue has other than <paramref name="arguments"/>; null when it does not exist or agrees.</summary>
    internal static async Task<Comparison?> CompareAsync(IConnection connection, string queue, IReadOnlyDictionary<string, object> arguments, CancellationToken cancellationToken)
    {
        if (!await ExistsAsync(connection, queue, cancellationToken))
            return null;

        var declared = arguments.ToDictionary(a => a.Key, a => (object?)a.Value, StringComparer.Ordinal);
        var differences = new List<Difference>();
        string? firstRefusal = null;
        for (var attempt = 0; attempt < MaxDeclarations; attempt++)
        {
            var refusal = await DeclareAsync(connection, queue, declared, cancellationToken);
            if (refusal is null)
                return firstRefusal is null ? null : new Comparison(differences, firstRefusal, Complete: true);

            firstRefusal ??= refusal;
            var match = InequivalentArgument().Match(refusal);
            if (!match.Success || differences.Any(d => d.Argument == match.Groups["argument"].Value))
                break;

            var argument = match.Groups["argument"].Value;
            var current = match.Groups["current"].Success ? match.Groups["current"].Value : null;
            differences.Add(new Difference(argument, arguments.TryGetValue(argument, out var ours) ? Convert.ToString(ours, CultureInfo.InvariantCulture) : null, current));
            if (current is null)
                declared.Remove(argument);
            else
                declared[argument] = AmqpValue(current, match.Groups["type"].Value);
        }

        return new Comparison(differences, firstRefusal!, Complete: false);
    }

    static async Task<bool> ExistsAsync(IConnection connection, string queue, CancellationToken cancellationToken)
    {
        // A refused declaration closes its channel: one channel per declaration.
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclarePassiveAsync(queue, cancellationToken);
            return true;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == NotFound)
        {
            return false;
        }
    }

    /// <summary>Null when RabbitMQ accepts the declaration; otherwise its reply text.</summary>
    static async Task<string?> DeclareAsync(IConnection connection, string queue, Dictionary<string, object?> arguments, CancellationToken cancellationToken)
    {
        await using var channel = await connection.CreateChannelAsync(cancellationToken: cancellationToken);
        try
        {
            await channel.QueueDeclareAsync(queue, durable: true, exclusive: false, autoDelete: false, arguments, cancellationToken: cancellationToken);
            return null;
        }
        catch (OperationInterruptedException exception) when (exception.ShutdownReason?.ReplyCode == PreconditionFailed)
        {
            return exception.ShutdownReason.ReplyText;
        }
    }

    /// <summary>A value as RabbitMQ printed it, typed as the queue has it (a number compares equal across integer types).</summary>
    static object AmqpValue(string value, string type) => type switch
    {
        "longstr" => value,
        "bool" => bool.Parse(value),
        _ when long.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) => number,
        _ => value,
    };

    static string Explain(string queue, Comparison comparison, RabbitMqSettings rabbitMq, WorkerSettings worker)
    {
        var where = $"RabbitMQ queue '{queue}' (virtual host '{rabbitMq.VirtualHost}')";
        var recreate = $"stop every worker, let '{queue}' drain (or move its messages elsewhere), delete it " +
                       $"(rabbitmqctl delete_queue -p {rabbitMq.VirtualHost} {queue}) and start the worker, which declares it again";
        var rabbit = $"(RabbitMQ: {comparison.FirstRefusal})";
        var differences = comparison.Differences;

        if (differences.FirstOrDefault(d => d.Argument == QueueType) is { } type)
        {
            var existing = type.Current ?? "classic";
            return $"{where} exists as a {existing} queue, and Worker:QueueType is {worker.QueueType}: RabbitMQ cannot change the type of an " +
                   $"existing queue. Either set Worker:QueueType={(existing == "quorum" ? "Quorum" : "Classic")}, or, to move to " +
                   $"{worker.QueueType.ToString().ToLowerInvariant()} queues, {recreate}. {rabbit}";
        }

        if (!comparison.Complete || differences.Count == 0)
            return $"{where} exists with other arguments than the worker declares; to change them, {recreate}. {rabbit}";

        var list = string.Join(", ", differences.Select(d => $"{d.Argument} {d.Current ?? "not set"} (the worker declares {d.Ours ?? "none"})"));
        var limit = differences.FirstOrDefault(d => d.Argument == DeliveryLimit);
        var advice = limit is { Current: { } current } && differences.Count == 1
            ? $"Set Worker:DeliveryLimit={current}, or lower the limit with a policy (delivery-limit: the lower of policy and argument applies), or {recreate}"
            : $"To change them, {recreate}";
        return $"{where} exists with {list}: RabbitMQ cannot change the arguments of an existing queue. {advice}. {rabbit}";
    }

    /// <summary>An existing queue's differences from the worker's declaration.</summary>
    /// <param name="Differences">Each argument the queue has otherwise, in the order RabbitMQ named them.</param>
    /// <param name="FirstRefusal">RabbitMQ's reply to the worker's own declaration.</param>
    /// <param name="Complete">False when a refusal could not be read, so <paramref name="Differences"/> may miss some.</param>
    internal sealed record Comparison(IReadOnlyList<Difference> Differences, string FirstRefusal, bool Complete);

    /// <summary>One argument: what the worker declares and what the queue has (null: not set).</summary>
    internal sealed record Difference(string Argument, string? Ours, string? Current);

    // RabbitMQ 3.10 (rabbit_misc:equivalence_fail): "PRECONDITION_FAILED - inequivalent arg 'x-delivery-limit' for queue
    // 'payments' in vhost '/': received '6' but current is '5'", or "... but current is none", or "... but current is the
    // value 'quorum' of type 'longstr'".
    [GeneratedRegex(@"inequivalent arg '(?<argument>[^']+)' for .* but current is (?:none|the value '(?<current>[^']*)' of type '(?<type>[^']*)'|'(?<current>[^']*)')$")]
    private static partial Regex InequivalentArgument();
}
