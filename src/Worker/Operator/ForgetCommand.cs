using System.CommandLine;
using Dedup.Operations;

namespace Dedup.Worker.Operator;

/// <summary>
/// <c>forget</c>: removes a message's dedup record safely, so its next copy runs again: a tombstone keeps the epoch, so
/// the next claim is fenced above every owner before it and asks the takeover check (README, "Operating").
/// </summary>
internal static class ForgetCommand
{
    public static Command Create()
    {
        var target = new RecordTarget();
        var force = new Option<bool>("--force")
        {
            Description = "Forget even while an owner holds a live lease: that owner is fenced off (its completion is refused) and the next copy asks the takeover check.",
        };
        var json = new Option<bool>("--json") { Description = "Print the outcome as JSON." };
        var command = new Command("forget", "Forget a message's dedup record so its next copy is claimed again, at a higher epoch. Refuses a live lease unless --force.");
        target.AddTo(command);
        command.Options.Add(force);
        command.Options.Add(json);
        OperatorSession.SetAction(command, async (parse, session, cancellationToken) =>
        {
            var key = target.Key(parse, session.Records, session.Configuration.RabbitMq);
            var result = await session.Records.ForgetAsync(key, parse.GetValue(force), cancellationToken);
            Console.WriteLine(parse.GetValue(json) ? RecordText.Json(key, result) : RecordText.Human(key, result, session.Dedup.Retention));
            return result.Outcome == DedupForgetOutcome.LeaseHeld ? OperatorCommands.Refused : 0;
        });
        return command.AcceptingSettings();
    }
}
